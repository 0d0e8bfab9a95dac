"""Back office: geography."""
