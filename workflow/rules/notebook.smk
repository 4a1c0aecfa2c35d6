# The report notebook, executed into HTML from the publishable outputs.
