"""Back office: plans."""
