"""routing-svc: decides who handles a case, assigns and transfers it, records the owner."""
