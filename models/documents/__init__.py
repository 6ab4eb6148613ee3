"""Official documents and registers printed as PDF (WeasyPrint)."""
