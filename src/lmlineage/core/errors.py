"""The one error type for bad input.

A ``UserError`` is raised where input is checked; the CLI prints its message as one
line and exits with code 2. Anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Bad input from the user: a file, an option, a config, a checkpoint.

    The message names the problem and, where there is one, the fix.
    """

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(problem if fix is None else f"{problem} ({fix})")
