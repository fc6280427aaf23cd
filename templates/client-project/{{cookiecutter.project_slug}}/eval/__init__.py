"""Model validation: score the model on an evaluation set against the stack config's baseline."""
