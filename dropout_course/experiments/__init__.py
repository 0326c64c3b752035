"""The chapters' experiments, one module per chapter, importable so that the test suite can run
each experiment at reduced size and check the claim the chapter makes from it."""
