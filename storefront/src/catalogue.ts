// The shop's small static catalogue, shipped with the page. Prices in minor units.
// tests/journey.mjs buys "Blue mug" (affordable after a 100.00 top-up) and "Espresso machine"
// (not affordable): keep those two, or change the test with them.

export interface Product {
  id: string;
  title: string;
  price: number;
  blurb: string;
}

export const CATALOGUE: readonly Product[] = [
  { id: "tea", title: "Green tea, 100 g", price: 750, blurb: "Loose leaf sencha from a small farm." },
  { id: "mug", title: "Blue mug", price: 1250, blurb: "Stoneware, 350 ml, dishwasher safe." },
  { id: "notebook", title: "Dotted notebook", price: 2490, blurb: "A5, 160 pages of 100 g paper." },
  { id: "headphones", title: "Wireless headphones", price: 8900, blurb: "Closed back, 30 hours of battery." },
  { id: "espresso", title: "Espresso machine", price: 34900, blurb: "15 bar pump, steam wand included." },
];
