"""include/uapi/asm-generic/errno-base.h and errno.h: the errno values the model returns.

Modeled functions return them negated, exactly where the kernel does.
"""

EPERM = 1
ENOENT = 2
EINTR = 4
EIO = 5
EAGAIN = 11
ENOMEM = 12
EBUSY = 16
EEXIST = 17
ENODEV = 19
EINVAL = 22
ENOSPC = 28
ENOTTY = 25
ENOSYS = 38

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
