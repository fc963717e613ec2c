//! The run as data: the scenarios (what each drives, at what pace, and the ceiling of the same
//! run it is compared to) in the order they run and are reported, and the targets, each
//! naming the scenario it is checked against, in the order they are reported.

use std::fmt::Write as _;

use crate::report::{Check, Row};
use crate::system::PgCounters;

/// Products in the catalogue the order scenarios buy from (besides the hot one).
pub const PRODUCTS: usize = 100;

/// Names a scenario, for the targets and for a pace derived from another scenario's rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Id {
    Balance,
    Catalogue,
    Deposit,
    Orders,
    OneCustomer,
    HotProduct,
    Login,
    OrdersAt10,
    OrdersAtHalf,
}

/// The calls a scenario makes.
#[derive(Clone, Copy, Debug)]
pub enum Drives {
    /// `GET /billing/account/my`, each customer in turn.
    Balance,
    /// The first page of `GET /products`, without a token.
    Catalogue,
    /// `POST /billing/account/deposit`, each customer in turn.
    Deposit,
    /// `POST /orders` of 1 to 3 catalogue products, each customer in turn.
    Orders,
    /// `POST /orders` of 1 to 3 catalogue products, all by the first customer.
    OneCustomersOrders,
    /// `POST /orders` of one unit of the hot product, each customer in turn.
    HotProduct,
    /// `POST /users/login`, each customer in turn.
    Login,
}

#[derive(Clone, Copy, Debug)]
pub enum Pace {
    /// Every connection sends its next request as soon as the last one answered: the maximum.
    Closed,
    /// This many requests a second.
    Rate(f64),
    /// Half the rate that scenario reached (at least one a second).
    HalfOf(Id),
}

/// A ceiling of the machine, measured right before the first scenario it bounds, so that both
/// see the machine in the same state (a shared VM's speed drifts over minutes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ceiling {
    /// nginx proxying to a trivial upstream (requests a second).
    Nginx,
    /// Postgres one-row commits (pgbench).
    Postgres,
    /// argon2id hashes a second with the user service's parameters, in-process.
    Argon2,
}

impl Ceiling {
    /// Its name in the table's ceiling column.
    pub fn name(self) -> &'static str {
        match self {
            Ceiling::Nginx => "nginx",
            Ceiling::Postgres => "Postgres commits",
            Ceiling::Argon2 => "argon2id hashes",
        }
    }

    /// What its figure counts, written after it in a target's measurement.
    fn unit(self) -> &'static str {
        match self {
            Ceiling::Nginx => " req/s",
            Ceiling::Postgres | Ceiling::Argon2 => "",
        }
    }
}

/// One scenario of the run.
pub struct Scenario {
    pub id: Id,
    /// Its row's name; `{rate}` stands for the requests a second of a pace derived at run time.
    pub name: String,
    pub drives: Drives,
    pub pace: Pace,
    /// Its connections when not the run's (`--connections`, more for a rate above 50 a second
    /// per connection).
    pub connections: Option<usize>,
    /// Each connection from a loopback address of its own, as distinct clients would (the
    /// gateway limits logins per address).
    pub own_addresses: bool,
    pub ceiling: Option<Ceiling>,
    /// It tracks its orders' notifications; their delays are a row of this name.
    pub delays: Option<&'static str>,
    /// Postgres's work per request is counted over it (a figure of the report).
    pub counts_postgres: bool,
    /// The services' peak memory "under the order load" is sampled from its start to the end
    /// of the run.
    pub peak_rss_from_here: bool,
}

impl Scenario {
    /// A closed-loop scenario over the run's connections, each customer's call in turn.
    fn closed(id: Id, name: impl Into<String>, drives: Drives, ceiling: Option<Ceiling>) -> Self {
        Self {
            id,
            name: name.into(),
            drives,
            pace: Pace::Closed,
            connections: None,
            own_addresses: false,
            ceiling,
            delays: None,
            counts_postgres: false,
            peak_rss_from_here: false,
        }
    }
}

impl Scenario {
    /// The requests a second its pace asks for: `None` in a closed loop, `Err` when it is
    /// paced by a scenario that has not run.
    pub fn rate(&self, earlier: &[Outcome]) -> Result<Option<f64>, Id> {
        Ok(match self.pace {
            Pace::Closed => None,
            Pace::Rate(rate) => Some(rate),
            Pace::HalfOf(id) => {
                let full = outcome(earlier, id).ok_or(id)?;
                Some((full.row.rate / 2.0).max(1.0))
            }
        })
    }

    /// Its connections, out of the run's `connections`, at `rate`.
    pub fn connections(&self, connections: usize, rate: Option<f64>) -> usize {
        self.connections.unwrap_or(match rate {
            Some(rate) => connections.max((rate / 50.0).ceil() as usize),
            None => connections,
        })
    }

    /// Its row's name, at `rate`.
    pub fn title(&self, rate: Option<f64>) -> String {
        match rate {
            Some(rate) => self.name.replace("{rate}", &format!("{rate:.0}")),
            None => self.name.clone(),
        }
    }
}

/// The scenarios of a run of `users` customers, in the order they run and are reported.
pub fn scenarios(users: usize) -> Vec<Scenario> {
    use Ceiling::{Argon2, Nginx, Postgres};
    vec![
        Scenario::closed(
            Id::Balance,
            "balance read (GET /billing/account/my)",
            Drives::Balance,
            Some(Nginx),
        ),
        Scenario::closed(
            Id::Catalogue,
            format!("catalogue read (GET /products, first page of {PRODUCTS})"),
            Drives::Catalogue,
            Some(Nginx),
        ),
        Scenario::closed(
            Id::Deposit,
            "deposit (POST /billing/account/deposit)",
            Drives::Deposit,
            Some(Nginx),
        ),
        Scenario {
            counts_postgres: true,
            peak_rss_from_here: true,
            ..Scenario::closed(
                Id::Orders,
                format!("order (POST /orders, 1 to 3 of {PRODUCTS} products, {users} customers)"),
                Drives::Orders,
                Some(Postgres),
            )
        },
        Scenario::closed(
            Id::OneCustomer,
            "order (POST /orders, one hot customer)",
            Drives::OneCustomersOrders,
            Some(Postgres),
        ),
        Scenario::closed(
            Id::HotProduct,
            format!("order (POST /orders, one hot product, {users} customers)"),
            Drives::HotProduct,
            Some(Postgres),
        ),
        Scenario {
            own_addresses: true,
            ..Scenario::closed(
                Id::Login,
                "login (POST /users/login)",
                Drives::Login,
                Some(Argon2),
            )
        },
        Scenario {
            pace: Pace::Rate(10.0),
            connections: Some(10),
            delays: Some("order → notification listed, at 10 orders/s"),
            ..Scenario::closed(
                Id::OrdersAt10,
                "order at 10/s, notification tracked",
                Drives::Orders,
                None,
            )
        },
        Scenario {
            pace: Pace::HalfOf(Id::Orders),
            delays: Some("order → notification listed, at half the maximum order rate"),
            ..Scenario::closed(
                Id::OrdersAtHalf,
                "order at half the maximum rate ({rate}/s), notification tracked",
                Drives::Orders,
                None,
            )
        },
    ]
}

/// What a scenario measured.
pub struct Outcome {
    pub id: Id,
    pub ceiling: Option<Ceiling>,
    /// Its row, with its ceiling's name and figure.
    pub row: Row,
    /// The requests a second its pace asked for (`None` in a closed loop).
    pub rate: Option<f64>,
    /// The row of its orders' notification delays, when it tracked them.
    pub delays: Option<Row>,
    /// Postgres's counters over it, when it counts them.
    pub postgres: Option<PgCounters>,
}

/// What a target asks of its scenario.
pub enum Test {
    /// Its rate is at least this share of its ceiling's, with no error when `clean`.
    Share { at_least: f64, clean: bool },
    /// Its p99 is under this many milliseconds at its pace, with no error.
    P99 { under_ms: f64 },
    /// Its orders' notifications are listed within this p99 (milliseconds), every one of them.
    NotificationP99 { under_ms: f64 },
}

/// A target of the issue, checked against one scenario.
pub struct Goal {
    pub target: &'static str,
    pub of: Id,
    pub test: Test,
}

/// The targets, in the order the report lists them.
pub const GOALS: [Goal; 7] = [
    Goal {
        target: "balance read >= 30% of the nginx proxy ceiling",
        of: Id::Balance,
        test: Test::Share {
            at_least: 0.30,
            clean: false,
        },
    },
    Goal {
        target: "catalogue read (GET /products) >= 30% of the nginx proxy ceiling",
        of: Id::Catalogue,
        test: Test::Share {
            at_least: 0.30,
            clean: false,
        },
    },
    Goal {
        target: "orders of one hot product >= 5% of the Postgres one-row commit rate, 0 errors",
        of: Id::HotProduct,
        test: Test::Share {
            at_least: 0.05,
            clean: true,
        },
    },
    Goal {
        target: "order creation >= 10% of the Postgres one-row commit rate, 0 errors",
        of: Id::Orders,
        test: Test::Share {
            at_least: 0.10,
            clean: true,
        },
    },
    Goal {
        target: "order p99 < 100 ms at half the maximum rate",
        of: Id::OrdersAtHalf,
        test: Test::P99 { under_ms: 100.0 },
    },
    Goal {
        target: "order → notification p99 < 100 ms at 10 orders/s",
        of: Id::OrdersAt10,
        test: Test::NotificationP99 { under_ms: 100.0 },
    },
    Goal {
        target: "order → notification p99 < 250 ms at half the maximum order rate",
        of: Id::OrdersAtHalf,
        test: Test::NotificationP99 { under_ms: 250.0 },
    },
];

/// The outcome of scenario `id`, if it ran.
pub fn outcome(outcomes: &[Outcome], id: Id) -> Option<&Outcome> {
    outcomes.iter().find(|o| o.id == id)
}

impl Goal {
    /// The target checked against this run; `None` when its scenario did not measure what the
    /// target needs.
    pub fn check(&self, outcomes: &[Outcome]) -> Option<Check> {
        let outcome = outcome(outcomes, self.of)?;
        let row = &outcome.row;
        let (measured, met) = match self.test {
            Test::Share { at_least, clean } => {
                let ceiling = row.ceiling.as_ref()?.1;
                let ratio = row.rate / ceiling;
                let unit = outcome.ceiling.map_or("", Ceiling::unit);
                let mut measured = format!(
                    "{:.0} / {:.0}{unit} = {:.1}%",
                    row.rate,
                    ceiling,
                    ratio * 100.0
                );
                if clean {
                    let _ = write!(measured, ", {} errors", row.errors);
                }
                (measured, ratio >= at_least && (!clean || row.errors == 0))
            }
            Test::P99 { under_ms } => (
                format!(
                    "p99 {:.1} ms at {:.0}/s, {} errors",
                    row.p99_ms,
                    outcome.rate.unwrap_or(row.rate),
                    row.errors
                ),
                row.p99_ms < under_ms && row.errors == 0,
            ),
            Test::NotificationP99 { under_ms } => {
                let delays = outcome.delays.as_ref()?;
                (
                    format!(
                        "p50 {:.1} ms, p99 {:.1} ms, {} never seen",
                        delays.p50_ms, delays.p99_ms, delays.errors
                    ),
                    delays.p99_ms < under_ms && delays.errors == 0 && delays.requests > 0,
                )
            }
        };
        Some(Check {
            target: self.target.to_owned(),
            measured,
            met,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome_of(id: Id, ceiling: Option<(Ceiling, f64)>, rate: f64, errors: u64) -> Outcome {
        let mut row = Row::figure("a scenario", 1000, rate);
        row.errors = errors;
        row.p99_ms = 12.34;
        row.ceiling = ceiling.map(|(c, value)| (c.name().to_owned(), value));
        Outcome {
            id,
            ceiling: ceiling.map(|(c, _)| c),
            row,
            rate: None,
            delays: None,
            postgres: None,
        }
    }

    fn check(goal: usize, outcomes: &[Outcome]) -> Option<(String, bool)> {
        GOALS[goal].check(outcomes).map(|c| (c.measured, c.met))
    }

    #[test]
    fn the_rows_keep_their_names_and_order() {
        let names: Vec<String> = scenarios(100).into_iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [
                "balance read (GET /billing/account/my)",
                "catalogue read (GET /products, first page of 100)",
                "deposit (POST /billing/account/deposit)",
                "order (POST /orders, 1 to 3 of 100 products, 100 customers)",
                "order (POST /orders, one hot customer)",
                "order (POST /orders, one hot product, 100 customers)",
                "login (POST /users/login)",
                "order at 10/s, notification tracked",
                "order at half the maximum rate ({rate}/s), notification tracked",
            ]
        );
    }

    #[test]
    fn the_half_rate_scenario_is_paced_and_named_by_the_order_scenario() {
        let all = scenarios(10);
        let half = all.iter().find(|s| s.id == Id::OrdersAtHalf).expect("half");
        assert_eq!(half.rate(&[]), Err(Id::Orders));
        let orders = [outcome_of(Id::Orders, None, 300.0, 0)];
        let rate = half.rate(&orders).expect("paced");
        assert_eq!(rate, Some(150.0));
        assert_eq!(
            half.title(rate),
            "order at half the maximum rate (150/s), notification tracked"
        );
        assert_eq!(half.connections(32, rate), 32);
        assert_eq!(half.connections(32, Some(5000.0)), 100);
        let at_10 = all.iter().find(|s| s.id == Id::OrdersAt10).expect("10/s");
        assert_eq!(at_10.connections(32, Some(10.0)), 10);
    }

    #[test]
    fn the_ceilings_are_measured_in_the_old_order() {
        // Each ceiling's row sits right before its first scenario: nginx, Postgres, argon2.
        let mut firsts: Vec<Ceiling> = Vec::new();
        for ceiling in scenarios(10).iter().filter_map(|s| s.ceiling) {
            if !firsts.contains(&ceiling) {
                firsts.push(ceiling);
            }
        }
        assert_eq!(firsts, [Ceiling::Nginx, Ceiling::Postgres, Ceiling::Argon2]);
    }

    #[test]
    fn every_target_names_a_scenario_of_the_run() {
        let all = scenarios(10);
        for goal in &GOALS {
            let scenario = all.iter().find(|s| s.id == goal.of);
            let scenario = scenario.unwrap_or_else(|| panic!("{} has no scenario", goal.target));
            match goal.test {
                Test::Share { .. } => assert!(scenario.ceiling.is_some(), "{}", goal.target),
                Test::NotificationP99 { .. } => assert!(scenario.delays.is_some()),
                Test::P99 { .. } => {}
            }
        }
    }

    #[test]
    fn a_share_of_the_nginx_ceiling_is_in_requests_a_second_without_errors() {
        let outcomes = [outcome_of(
            Id::Balance,
            Some((Ceiling::Nginx, 1000.0)),
            300.0,
            2,
        )];
        assert_eq!(
            check(0, &outcomes),
            Some(("300 / 1000 req/s = 30.0%".to_owned(), true))
        );
        let outcomes = [outcome_of(
            Id::Balance,
            Some((Ceiling::Nginx, 1000.0)),
            299.0,
            0,
        )];
        assert_eq!(check(0, &outcomes).map(|c| c.1), Some(false));
    }

    #[test]
    fn a_clean_share_of_the_postgres_ceiling_counts_errors() {
        let outcomes = [outcome_of(
            Id::Orders,
            Some((Ceiling::Postgres, 2000.0)),
            400.0,
            1,
        )];
        assert_eq!(
            check(3, &outcomes),
            Some(("400 / 2000 = 20.0%, 1 errors".to_owned(), false))
        );
        let outcomes = [outcome_of(
            Id::Orders,
            Some((Ceiling::Postgres, 2000.0)),
            400.0,
            0,
        )];
        assert_eq!(check(3, &outcomes).map(|c| c.1), Some(true));
    }

    #[test]
    fn the_p99_target_names_the_pace_and_the_delay_target_its_own_row() {
        let mut half = outcome_of(Id::OrdersAtHalf, None, 149.0, 0);
        half.rate = Some(150.0);
        assert_eq!(
            check(4, std::slice::from_ref(&half)),
            Some(("p99 12.3 ms at 150/s, 0 errors".to_owned(), true))
        );
        // Without its delays row, the delay target is not checked.
        assert_eq!(check(6, std::slice::from_ref(&half)), None);
        half.delays = Some(Row {
            p50_ms: 80.0,
            p99_ms: 240.0,
            errors: 0,
            ..Row::figure("delays", 50, 0.0)
        });
        assert_eq!(
            check(6, std::slice::from_ref(&half)),
            Some(("p50 80.0 ms, p99 240.0 ms, 0 never seen".to_owned(), true))
        );
        // A scenario that did not run checks nothing.
        assert_eq!(check(5, &[half]), None);
    }
}
