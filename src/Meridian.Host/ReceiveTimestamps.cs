using System.Net;
using System.Runtime.CompilerServices;
using Meridian.Engine;
using Meridian.Protocol;

namespace Meridian.Host;

/// <summary>
/// Whether the kernel's receive timestamps (SO_TIMESTAMPNS) are on the clock the process reads. Asked once per clock:
/// a datagram sent to ourselves over loopback must be stamped between the clock readings before and after it. A
/// clock interposer shifts what the process reads but not what the kernel stamps; then the daemon takes its own
/// reading at receipt instead, and says so at start.
/// </summary>
public static class ReceiveTimestamps
{
    /// <summary>How far a kernel stamp may lie outside the two readings around it and still be on the same clock.</summary>
    public const double Tolerance = 0.001;

    private static readonly ConditionalWeakTable<IClock, Verdict> Verdicts = new();

    /// <summary>True when the kernel's stamps can be used with <paramref name="clock"/>.</summary>
    public static bool Trusted(IClock clock) => Verdicts.GetValue(clock, Probe).Trusted;

    /// <summary>How far the kernel's stamp was from <paramref name="clock"/>'s reading, seconds (0 when it could not be measured).</summary>
    public static double Difference(IClock clock) => Verdicts.GetValue(clock, Probe).Difference;

    private static Verdict Probe(IClock clock)
    {
        try
        {
            using NtpSocket receiver = NtpSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            using NtpSocket sender = NtpSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            using var datagram = new Datagram();
            NtpTimestamp before = clock.Now();
            sender.SendTo([0], receiver.LocalEndPoint);
            if (receiver.Receive(datagram, 1000) != ReceiveResult.Received || datagram.KernelReceiveTime is not NtpTimestamp kernel)
            {
                return new Verdict(true, 0);
            }

            NtpTimestamp after = clock.Now();
            double early = (before - kernel).ToSeconds();
            double late = (kernel - after).ToSeconds();
            double difference = early > 0 ? -early : late > 0 ? late : 0;
            return new Verdict(early <= Tolerance && late <= Tolerance, difference);
        }
        catch (NtpSocketException)
        {
            // No loopback to ask (a namespace without lo up): the usual case is that they agree.
            return new Verdict(true, 0);
        }
    }

    private sealed record Verdict(bool Trusted, double Difference);
}
