"""placer\x27s test suite (a package, so test modules can import tests.helpers)."""
