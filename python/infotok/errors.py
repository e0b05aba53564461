"""Exceptions. Every message names the input (a path, "stdin", or the name given) and where in
it the problem is, like the C tools' messages (infotok-stream(5), ERRORS)."""


class InfotokError(Exception):
    """Base class of every error this package raises about its inputs."""


class FormatError(InfotokError, ValueError):
    """A malformed stream or shard: a rule of infotok-stream(5) or infotok-shard(5) is broken."""


class ChecksumError(FormatError):
    """A CRC-32 does not match: a record or a shard file is damaged."""


class IncompleteError(FormatError):
    """A stream or shard that was never finished: truncated, no END record, no trailer or
    completion marker."""


class AllocationError(InfotokError, ValueError):
    """An allocation that cannot be made: a bad rate or strategy, or inputs that disagree on
    the corpus statistic of global_elbo (say which corpus is meant with elbo_stat)."""
