"""console-svc: the staff's web console over the four services' APIs (issue 16)."""
