# tests/: unit, ops, model, cli and data tests under the Automake parallel harness.
