"""Activities: the I/O done on behalf of workflows, as classes whose constructors take ports."""
