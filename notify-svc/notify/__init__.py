"""notify-svc: tells people: ops alerts, assignees, customers."""
