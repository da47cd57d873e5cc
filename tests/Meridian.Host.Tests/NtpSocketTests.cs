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
