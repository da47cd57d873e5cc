using System.Net;
using Meridian.Engine;

namespace Meridian.Daemon;

/// <summary>Command-line settings of the daemon that are not in ntp.conf.</summary>
public sealed record DaemonOptions
{
    /// <summary>What mode 6 reports as the daemon's version.</summary>
    public string Version { get; init; } = "ntpd Meridian";

    /// <summary>UDP port to serve; 123 unless a test asks for another (0 picks a free one).</summary>
    public int Port { get; init; } = 123;

    /// <summary>The NTS-KE server's TCP port (RFC 8915 §4: 4460).</summary>
    public int NtsKePort { get; init; } = 4460;

    public bool UseIPv4 { get; init; } = true;

    public bool UseIPv6 { get; init; } = true;

    /// <summary><c>-I ADDRESS</c>: listen on these addresses only.</summary>
    public IReadOnlyList<IPAddress> ListenAddresses { get; init; } = [];

    /// <summary><c>-I NAME</c>: listen on these interfaces only.</summary>
    public IReadOnlyList<string> ListenInterfaces { get; init; } = [];

    /// <summary><c>-g</c>: the first correction may exceed the panic threshold.</summary>
    public bool AllowFirstPanic { get; init; }

    /// <summary><c>-x</c>: step threshold 600 s.</summary>
    public bool SlewMostly { get; init; }

    /// <summary><c>-q</c>: set the clock once and exit.</summary>
    public bool SetOnceAndExit { get; init; }

    /// <summary><c>-f</c>: drift file, overriding <c>driftfile</c>.</summary>
    public string? DriftFile { get; init; }

    public DisciplineKind Discipline { get; init; } = DisciplineKind.Adaptive;

    /// <summary>
    /// <c>--single-thread</c>: serve client requests on the event loop thread too, so that the whole daemon is one
    /// thread making only the calls a clock or network interposer replaces (simulation, libfaketime). By default
    /// each socket has a serving thread of its own.
    /// </summary>
    public bool SingleThread { get; init; }

    /// <summary>The clock system calls (a recording fake in tests).</summary>
    public Host.Native.IKernelClockCalls KernelClock { get; init; } = Host.Native.KernelClockCalls.Instance;
}
