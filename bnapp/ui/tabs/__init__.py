"""One module per tab: its layout, its handlers (thin: arguments in, figures out) and its events."""
