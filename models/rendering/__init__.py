"""What the system prints and draws: official documents, registers, reports (WeasyPrint PDF)
and the statistics charts. Nothing here changes data; the service layer calls it."""
