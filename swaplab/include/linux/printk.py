"""include/linux/printk.h: the kernel log.  Messages are kept with their step."""

from __future__ import annotations

from swaplab.check.findings import log as _findings

dmesg: list[tuple[int, str, str]] = []      # (step, level, text)


def printk(level: str, text: str) -> None:
    dmesg.append((_findings.step, level, text))


def pr_alert(text: str) -> None:
    printk("alert", text)


def pr_err(text: str) -> None:
    printk("err", text)


def pr_warn(text: str) -> None:
    printk("warn", text)


def pr_info(text: str) -> None:
    printk("info", text)


def reset() -> None:
    dmesg.clear()
