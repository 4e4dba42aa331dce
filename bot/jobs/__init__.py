"""Jobs: the request model, lifecycle states, pricing and the fair scheduler."""
