// Swagger UI for the shop's merged public specification, served by the gateway at /api/docs/.
// Everything is local: the assets come from the swagger-ui-dist npm package and the document
// from api-spec/openapi.yaml; the online validator badge is switched off.
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "./openapi.yaml",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
  });
};
