"""Running an item: its :class:`~pytest_aibench.run.plan.Plan`, the one measuring function
(:func:`~pytest_aibench.run.measure.measure`) and the places that run it (``run.places``)."""
