"""Who may call sedo: bearer JWTs naming tenants and a role per tenant.

Every API operation but ``GET /sedo/health`` needs ``Authorization: Bearer <JWT>``.
This package holds what the API and the CLI share, one concern a module; the
Connexion glue (the bearer handler, the verifier the settings describe, 401/403
answers) is sedo/entrypoints/api/auth.py.

- :mod:`sedo.auth.grants`: roles, the least role of each operation, the tenants
  claim, and :func:`~sedo.auth.grants.authorize`, the one place roles are enforced.
- :mod:`sedo.auth.verifier`: :class:`~sedo.auth.verifier.TokenVerifier`, which checks
  signature, expiry, issuer and audience with a fixed public key or the issuer's JWKS.
- :mod:`sedo.auth.local`: the local stack's signing key and the tokens ``make run``
  and ``sedo token`` mint with it.
- :mod:`sedo.auth.errors`: :class:`~sedo.auth.errors.AuthError` (401/403) and
  :class:`~sedo.auth.errors.ConfigurationError` (tokens cannot be verified as configured).

The token
---------
A JWT signed with an asymmetric key (ES256/384/512, RS256/384/512, PS256/384/512,
EdDSA; never ``none`` or HMAC), with ``exp``, ``iss`` equal to the configured
issuer, and the configured audience in ``aud`` (or, for Cognito access tokens,
which carry no ``aud``, in ``client_id``). Its tenants claim (``sedo:tenants`` by
default; ``SEDO_JWT_TENANTS_CLAIM`` renames it) grants roles per tenant, either as
an object or, for identity providers that emit only strings (Cognito custom
attributes), as a string of ``tenant:role`` pairs::

    "sedo:tenants": {"123": "author", "456": "viewer"}
    "sedo:tenants": "123:author 456:viewer"          (spaces or commas between pairs)

Roles, each including the one before: ``viewer`` (read), ``operator`` (also start,
cancel, complete/fail/heartbeat steps), ``author`` (also create, update and delete
definitions).

Verification keys
-----------------
- Locally: ``make run`` creates an EC P-256 key pair (``$SEDO_LOCAL_DIR/jwt-signing-key.pem``),
  verifies with its public key (issuer ``sedo-local``, audience ``sedo``), and
  prints a token; ``sedo token`` mints more with the same key.
- On AWS: ``SEDO_JWT_ISSUER`` and ``SEDO_JWT_AUDIENCE``. The signing keys come from
  the issuer's JWKS, found through ``<issuer>/.well-known/openid-configuration``
  (or ``SEDO_JWT_JWKS_URL``), fetched on first use and cached for the life of the
  Lambda container. API Gateway's JWT authorizer checks the same token first;
  sedo checks it again, and checks tenants and roles, which the authorizer cannot.
- ``SEDO_JWT_PUBLIC_KEY`` (PEM) or ``SEDO_JWT_PUBLIC_KEY_FILE``: a fixed key instead of JWKS.

Imports of PyJWT and cryptography are deferred to first use, so importing any
module here (the CLI does) stays cheap. The processor imports none of them.
"""
