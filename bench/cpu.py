"""CPU seconds spent by the services' processes, RabbitMQ and PostgreSQL during a benchmark,
from /proc (Linux): what tells "one component is slow" from "the machine is saturated"."""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (/proc/<pid>/stat utime, stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy so far, all cores (/proc/stat)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
    return (user + nice + system + irq + softirq + steal) / TICK


def server_cpu() -> dict[str, float]:
    """CPU so far of the shared servers' processes: RabbitMQ's beam.smp and every PostgreSQL
    process (a backend that exits in between is missed: the pools keep theirs open)."""
    out: dict[str, float] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            comm = (proc / "comm").read_text().strip()
            if comm in ("beam.smp", "postgres"):
                out[f"{comm}:{proc.name}"] = cpu_seconds(int(proc.name))
        except OSError:  # exited meanwhile
            continue
    return out


class CpuMeter:
    """Snapshots at start() (a process stopped then is counted from its restarted()),
    totals at stop()."""

    def __init__(self, services: dict) -> None:
        self.services = services  # name -> tests.support.processes.ServiceProcess
        self.before: dict[str, float] = {}

    def start(self) -> CpuMeter:
        self.before = {name: cpu_seconds(p.proc.pid) for name, p in self.services.items()
                       if p.proc.poll() is None}
        self.busy, self.servers = machine_busy_seconds(), server_cpu()
        return self

    def restarted(self, name: str) -> None:
        """A process started anew since start(): count it from now (its start-up left out)."""
        self.before[name] = cpu_seconds(self.services[name].proc.pid)

    def stop(self) -> dict[str, float]:
        cpu = {name: cpu_seconds(p.proc.pid) - self.before[name]
               for name, p in self.services.items()}
        for key, secs in server_cpu().items():
            name = "rabbitmq" if key.startswith("beam") else "postgresql"
            cpu[name] = cpu.get(name, 0.0) + secs - self.servers.get(key, 0.0)
        self.machine = machine_busy_seconds() - self.busy
        return cpu

    def report(self, cpu: dict[str, float]) -> str:
        return ", ".join(f"{name} {secs:.2f}" for name, secs in
                         sorted(cpu.items(), key=lambda kv: -kv[1])) + (
            f"; whole machine {self.machine:.2f} (the rest: kernel, the benchmark itself)")
