"""intake-svc: accepts cases from every channel; the system of record for a case."""
