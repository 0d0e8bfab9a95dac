"""Back office: payment_methods."""
