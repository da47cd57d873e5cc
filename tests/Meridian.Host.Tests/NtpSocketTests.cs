using System.Net;
using Meridian.Host;
using Meridian.Protocol;

namespace Meridian.Host.Tests;

public sealed class NtpSocketTests
{
    [Fact]
    public void Loopback_datagram_arrives_with_kernel_timestamp_and_destination()
    {
        using NtpSocket server = NtpSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using NtpSocket client = NtpSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var datagram = new Datagram();
        long before = LinuxClock.UnixNanoseconds();
        client.SendTo(new byte[] { 1, 2, 3 }, server.LocalEndPoint);

        Assert.Equal(ReceiveResult.Received, server.Receive(datagram, 2000));
        long after = LinuxClock.UnixNanoseconds();

        Assert.Equal(new byte[] { 1, 2, 3 }, datagram.Payload.ToArray());
        Assert.Equal(client.LocalEndPoint, datagram.RemoteEndPoint);
        Assert.NotNull(datagram.KernelReceiveTime);
        long kernel = datagram.KernelReceiveTime!.Value.ToUnixNanoseconds();
        Assert.InRange(kernel, before, after);
    }
}

public sealed class ReceiveTimestampTests
{
    /// <summary>The system clock as an interposer would make the process see it: some seconds off the kernel's.</summary>
    private sealed class ShiftedClock(double seconds) : Meridian.Engine.IClock
    {
        public NtpTimestamp Now() => LinuxClock.Instance.Now() + NtpDuration.FromSeconds(seconds);
    }

    [Fact]
    public void Kernel_stamps_are_used_only_when_the_kernel_stamps_on_the_clock_the_process_reads()
    {
        Assert.True(ReceiveTimestamps.Trusted(LinuxClock.Instance));
        var shifted = new ShiftedClock(0.3);
        Assert.False(ReceiveTimestamps.Trusted(shifted));
        Assert.InRange(ReceiveTimestamps.Difference(shifted), -0.31, -0.29);

        using NtpSocket server = NtpSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using NtpSocket client = NtpSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var datagram = new Datagram();
        client.SendTo(new byte[] { 1 }, server.LocalEndPoint);
        Assert.Equal(ReceiveResult.Received, server.Receive(datagram, 2000));
        Assert.Equal(datagram.KernelReceiveTime, datagram.ArrivalTime(LinuxClock.Instance));
        // With the shifted clock the arrival is its own reading, 0.3 s past the kernel's stamp.
        Assert.InRange((datagram.ArrivalTime(shifted) - datagram.KernelReceiveTime!.Value).ToSeconds(), 0.29, 0.5);
    }

    [Fact]
    public void A_socket_carries_the_dscp_it_was_given()
    {
        using NtpSocket socket = NtpSocket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        socket.SetDscp(46);
        Assert.Equal(46, socket.Dscp);
    }
}
