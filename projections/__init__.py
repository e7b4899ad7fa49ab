"""Pure folds from events to state, the clinical rules, and the read-model runner."""
