"""The sample app of the embedded pattern: downloads, verifies and runs the model offline."""
