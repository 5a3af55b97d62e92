"""The error every IMU recording check raises: its message names the file and the line, column or option."""


class ImuDataError(ValueError):
    """A recording that cannot be used; the message names the file and the line, column or option."""
