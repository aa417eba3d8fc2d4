"""include/uapi/asm-generic/errno-base.h and errno.h: the errno values the model returns.

Modeled functions return them negated, exactly where the kernel does.
"""

from typing import Final

EPERM: Final = 1
ENOENT: Final = 2
EINTR: Final = 4
EIO: Final = 5
EAGAIN: Final = 11
ENOMEM: Final = 12
EBUSY: Final = 16
EEXIST: Final = 17
ENODEV: Final = 19
EINVAL: Final = 22
ENOSPC: Final = 28
ENOTTY: Final = 25
ENOSYS: Final = 38

errorcode: dict[int, str] = {
    EPERM: "EPERM", ENOENT: "ENOENT", EINTR: "EINTR", EIO: "EIO",
    EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EBUSY: "EBUSY", EEXIST: "EEXIST",
    ENODEV: "ENODEV", EINVAL: "EINVAL", ENOSPC: "ENOSPC", ENOTTY: "ENOTTY",
    ENOSYS: "ENOSYS",
}


def errname(ret: int) -> str:
    """``-12`` -> ``"-ENOMEM"``; ``0`` -> ``"0"``."""
    if ret < 0 and -ret in errorcode:
        return "-" + errorcode[-ret]
    return str(ret)
