"""A Bookinfo-like set of services for `make demo` (see README.md beside this file)."""
