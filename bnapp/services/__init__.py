"""What the app does, in plain Python: the UI, the CLIs, the benches and the tests all call these."""


class UserError(ValueError):
    """A request that cannot be served as asked; the message is for the person who asked."""
