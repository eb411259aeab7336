"""The test suite of backprop (a package, so test modules can share helpers)."""
