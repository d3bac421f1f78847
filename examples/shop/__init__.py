"""A two-service shop (storefront -> inventory) and its resilience tests (tests/),
written against inmesh.testing's pytest fixtures. See README.md."""
