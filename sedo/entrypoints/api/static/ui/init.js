// Swagger UI over the API's own spec. "Authorize" takes the bearer token; the console's
// token (session storage of the same origin) is offered too, so one sign-in serves both.
window.addEventListener("DOMContentLoaded", () => {
  const ui = window.SwaggerUIBundle({
    url: new URL("../openapi.json", window.location.href).pathname,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    persistAuthorization: false,
    tryItOutEnabled: false,
    onComplete: () => {
      const token = window.sessionStorage.getItem("sedo.token");
      if (token) ui.preauthorizeApiKey("bearerAuth", token);
    },
  });
  window.ui = ui;
});
