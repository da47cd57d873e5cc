using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Meridian.Host.Native;
using Meridian.Protocol;

namespace Meridian.Host;

/// <summary>
/// A received datagram and everything the kernel told about it: the sender, the local address it was sent to, and
/// the kernel's receive timestamp. Its native buffers are allocated once and reused, so receiving allocates nothing.
/// </summary>
public sealed unsafe class Datagram : IDisposable
{
    public const int Capacity = 2048;
    private const int NameCapacity = 128;
    private const int ControlCapacity = 256;

    internal readonly byte* Buffer;
    internal readonly byte* Name;
    internal readonly byte* Control;

    /// <summary>
    /// Our address the datagram reached (IPv4: ipi_spec_dst, 4 octets; IPv6: ipi6_addr, 16), for replying from it.
    /// </summary>
    internal readonly byte* DestinationAddress;

    /// <summary>The destination the packet carried (IPv4 ipi_addr, IPv6 ipi6_addr): a group or broadcast address when <see cref="SentToGroup"/>.</summary>
    internal readonly byte* HeaderDestination;

    public Datagram()
    {
        Buffer = (byte*)NativeMemory.AllocZeroed(Capacity);
        Name = (byte*)NativeMemory.AllocZeroed(NameCapacity);
        Control = (byte*)NativeMemory.AllocZeroed(ControlCapacity);
        DestinationAddress = (byte*)NativeMemory.AllocZeroed(16);
        HeaderDestination = (byte*)NativeMemory.AllocZeroed(16);
    }

    ~Datagram() => Free();

    public int Length { get; internal set; }

    public ReadOnlySpan<byte> Payload => new(Buffer, Length);

    /// <summary>When the kernel received the datagram (SO_TIMESTAMPNS), if it said.</summary>
    public NtpTimestamp? KernelReceiveTime { get; internal set; }

    /// <summary>
    /// The arrival time to use: the kernel's timestamp when the kernel stamps on the clock this process reads (see
    /// <see cref="ReceiveTimestamps"/>), else <paramref name="clock"/> read now. Under a clock interposer (libfaketime,
    /// a simulator) the kernel stamps on its own clock, and mixing the two would put the difference into every offset.
    /// </summary>
    public NtpTimestamp ArrivalTime(Meridian.Engine.IClock clock)
    {
        ArgumentNullException.ThrowIfNull(clock);
        return KernelReceiveTime is NtpTimestamp kernel && ReceiveTimestamps.Trusted(clock) ? kernel : clock.Now();
    }

    internal uint NameLength { get; set; }

    internal int DestinationFamily { get; set; }

    /// <summary>The datagram was sent to a multicast group or a broadcast address, not to one of our addresses.</summary>
    public bool SentToGroup { get; internal set; }

    /// <summary>The group or broadcast address the datagram was sent to (allocated), or null when it came to one of ours.</summary>
    public IPAddress? Group => !SentToGroup ? null : DestinationFamily == Libc.AF_INET
        ? new IPAddress(new ReadOnlySpan<byte>(HeaderDestination, 4))
        : new IPAddress(new ReadOnlySpan<byte>(HeaderDestination, 16));

    internal int InterfaceIndex { get; set; }


    /// <summary>The sender, as an allocated endpoint: for clients and logs, not the server's hot path.</summary>
    public IPEndPoint RemoteEndPoint => SocketAddress.ToEndPoint(new ReadOnlySpan<byte>(Name, (int)NameLength));

    /// <summary>The sender as a value (no allocation), for the MRU list on the serving path.</summary>
    public Meridian.Engine.MruKey SourceKey
    {
        get
        {
            // sockaddr_in: family(2) port(2) addr(4); sockaddr_in6: family(2) port(2) flowinfo(4) addr(16).
            var name = new ReadOnlySpan<byte>(Name, (int)NameLength);
            if (name.Length < 8)
            {
                return default;
            }

            ushort port = BinaryPrimitives.ReadUInt16BigEndian(name[2..]);
            if (BitConverter.ToUInt16(name) == Libc.AF_INET6 && name.Length >= 24)
            {
                return new Meridian.Engine.MruKey(BinaryPrimitives.ReadUInt128BigEndian(name[8..]), port, true);
            }

            return new Meridian.Engine.MruKey(BinaryPrimitives.ReadUInt32BigEndian(name[4..]), port, false);
        }
    }

    /// <summary>The address the datagram was sent to (IP_PKTINFO), allocated: for the engine's loop test, not the hot path.</summary>
    public IPAddress? LocalAddress => DestinationFamily switch
    {
        Libc.AF_INET => new IPAddress(new ReadOnlySpan<byte>(DestinationAddress, 4)),
        Libc.AF_INET6 => new IPAddress(new ReadOnlySpan<byte>(DestinationAddress, 16)),
        _ => null,
    };

    /// <summary>Copies a payload in, for tests of code that takes a <see cref="Datagram"/>.</summary>
    public void SetPayload(ReadOnlySpan<byte> payload)
    {
        payload.CopyTo(new Span<byte>(Buffer, Capacity));
        Length = payload.Length;
    }

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private bool _freed;

    private void Free()
    {
        if (_freed)
        {
            return;
        }

        _freed = true;
        NativeMemory.Free(Buffer);
        NativeMemory.Free(Name);
        NativeMemory.Free(Control);
        NativeMemory.Free(DestinationAddress);
        NativeMemory.Free(HeaderDestination);
    }
}

/// <summary>What a wait for a datagram ended with.</summary>
public enum ReceiveResult
{
    Received,
    TimedOut,
    Closed,
}

/// <summary>
/// A UDP socket for NTP on Linux, driven through libc so that it can read kernel receive timestamps and the
/// destination address of each datagram (IP_PKTINFO), and reply from that same address on a wildcard socket.
/// </summary>
public sealed unsafe class NtpSocket : IDisposable
{
    private int _fd;

    private NtpSocket(int fd, AddressFamily family)
    {
        _fd = fd;
        Family = family;
    }

    public AddressFamily Family { get; }

    /// <summary>The descriptor, for a <see cref="PollSet"/>; -1 once closed.</summary>
    public int Handle => Volatile.Read(ref _fd);

    public IPEndPoint LocalEndPoint
    {
        get
        {
            byte* name = stackalloc byte[128];
            uint length = 128;
            if (Libc.GetSockName(_fd, name, &length) != 0)
            {
                throw LastError("getsockname");
            }

            return SocketAddress.ToEndPoint(new ReadOnlySpan<byte>(name, (int)length));
        }
    }

    /// <summary>
    /// Opens a socket bound to <paramref name="endPoint"/>; an IPv6 socket is IPv6-only. With
    /// <paramref name="reuseAddress"/> (SO_REUSEADDR) sockets on a group or broadcast address can share the port with
    /// the unicast ones, as ntpd's do.
    /// </summary>
    /// <exception cref="SocketException">With the errno of the failed call (EADDRINUSE when another daemon holds the port).</exception>
    public static NtpSocket Bind(IPEndPoint endPoint, bool reuseAddress = false)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        bool v6 = endPoint.AddressFamily == AddressFamily.InterNetworkV6;
        int fd = Libc.Socket(v6 ? Libc.AF_INET6 : Libc.AF_INET, Libc.SOCK_DGRAM | Libc.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            throw LastError("socket");
        }

        var socket = new NtpSocket(fd, endPoint.AddressFamily);
        try
        {
            socket.SetOption(Libc.SOL_SOCKET, Libc.SO_TIMESTAMPNS, 1);
            if (reuseAddress)
            {
                socket.SetOption(Libc.SOL_SOCKET, Libc.SO_REUSEADDR, 1);
            }

            if (v6)
            {
                socket.SetOption(Libc.IPPROTO_IPV6, Libc.IPV6_V6ONLY, 1);
                socket.SetOption(Libc.IPPROTO_IPV6, Libc.IPV6_RECVPKTINFO, 1);
            }
            else
            {
                socket.SetOption(Libc.IPPROTO_IP, Libc.IP_PKTINFO, 1);
            }

            Span<byte> name = stackalloc byte[SocketAddress.MaxLength];
            int length = SocketAddress.Write(endPoint, name);
            fixed (byte* p = name)
            {
                if (Libc.Bind(fd, p, (uint)length) != 0)
                {
                    throw LastError($"bind {Format(endPoint)}");
                }
            }

            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Waits up to <paramref name="timeoutMilliseconds"/> for a datagram and receives it into <paramref name="datagram"/>.</summary>
    public ReceiveResult Receive(Datagram datagram, int timeoutMilliseconds)
    {
        ArgumentNullException.ThrowIfNull(datagram);
        int fd = Volatile.Read(ref _fd);
        if (fd < 0)
        {
            return ReceiveResult.Closed;
        }

        var pollFd = new Libc.PollFd { Fd = fd, Events = Libc.POLLIN };
        int ready = Libc.Poll(&pollFd, 1, timeoutMilliseconds);
        if (ready <= 0)
        {
            return Volatile.Read(ref _fd) < 0 ? ReceiveResult.Closed : ReceiveResult.TimedOut;
        }

        return TryReceive(datagram);
    }

    /// <summary>Receives a datagram that is waiting, without blocking: <see cref="ReceiveResult.TimedOut"/> when none is.</summary>
    public ReceiveResult TryReceive(Datagram datagram)
    {
        ArgumentNullException.ThrowIfNull(datagram);
        int fd = Volatile.Read(ref _fd);
        if (fd < 0)
        {
            return ReceiveResult.Closed;
        }

        var iov = new Libc.IoVec { Base = datagram.Buffer, Length = Datagram.Capacity };
        var message = new Libc.MsgHdr
        {
            Name = datagram.Name,
            NameLength = 128,
            Iov = &iov,
            IovLength = 1,
            Control = datagram.Control,
            ControlLength = 256,
        };

        nint received = Libc.RecvMsg(fd, &message, Libc.MSG_DONTWAIT);
        if (received < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            return errno is Libc.EAGAIN or Libc.EINTR ? ReceiveResult.TimedOut : errno == 9 /* EBADF */ ? ReceiveResult.Closed : ReceiveResult.TimedOut;
        }

        datagram.Length = (int)received;
        datagram.NameLength = message.NameLength;
        datagram.KernelReceiveTime = null;
        datagram.DestinationFamily = 0;
        datagram.SentToGroup = false;
        ReadControlMessages(datagram, (int)message.ControlLength);
        return ReceiveResult.Received;
    }

    /// <summary>
    /// Sends <paramref name="payload"/> back to the sender of <paramref name="datagram"/>, from the local address the
    /// request was sent to, so that a multi-homed server answers from the address the client asked.
    /// </summary>
    public bool Reply(Datagram datagram, ReadOnlySpan<byte> payload)
    {
        ArgumentNullException.ThrowIfNull(datagram);
        byte* control = stackalloc byte[64];
        nuint controlLength = 0;
        // IPv4: ipi_spec_dst is the local address to answer from, the interface's own even for a packet sent to a
        // broadcast or multicast address.
        if (datagram.DestinationFamily == Libc.AF_INET)
        {
            controlLength = WriteControlHeader(control, Libc.IPPROTO_IP, Libc.IP_PKTINFO, 12);
            byte* data = control + 16;
            BinaryPrimitives.WriteInt32LittleEndian(new Span<byte>(data, 4), 0);
            for (int i = 0; i < 4; i++)
            {
                data[4 + i] = datagram.DestinationAddress[i];
                data[8 + i] = 0;
            }
        }
        else if (datagram.DestinationFamily == Libc.AF_INET6 && datagram.DestinationAddress[0] != 0xFF)
        {
            controlLength = WriteControlHeader(control, Libc.IPPROTO_IPV6, Libc.IPV6_PKTINFO, 20);
            byte* data = control + 16;
            for (int i = 0; i < 16; i++)
            {
                data[i] = datagram.DestinationAddress[i];
            }

            BinaryPrimitives.WriteInt32LittleEndian(new Span<byte>(data + 16, 4), datagram.InterfaceIndex);
        }

        fixed (byte* p = payload)
        {
            var iov = new Libc.IoVec { Base = p, Length = (nuint)payload.Length };
            var message = new Libc.MsgHdr
            {
                Name = datagram.Name,
                NameLength = datagram.NameLength,
                Iov = &iov,
                IovLength = 1,
                Control = controlLength == 0 ? null : control,
                ControlLength = controlLength,
            };
            return Libc.SendMsg(_fd, &message, 0) == payload.Length;
        }
    }

    /// <summary>Sends a datagram to <paramref name="destination"/> from the socket's own address (client side).</summary>
    public void SendTo(ReadOnlySpan<byte> payload, IPEndPoint destination) => SendFrom(payload, destination, null);

    /// <summary>
    /// Sends a datagram to <paramref name="destination"/> leaving from the local address <paramref name="source"/>:
    /// on a wildcard socket the address goes in an IP_PKTINFO/IPV6_PKTINFO control message, so that a reply comes
    /// from the address the request was sent to. Null, or a socket bound to one address, sends as bound.
    /// </summary>
    /// <exception cref="NtpSocketException">When sendmsg fails.</exception>
    public void SendFrom(ReadOnlySpan<byte> payload, IPEndPoint destination, IPAddress? source, int interfaceIndex = 0)
    {
        ArgumentNullException.ThrowIfNull(destination);
        Span<byte> name = stackalloc byte[SocketAddress.MaxLength];
        int nameLength = SocketAddress.Write(destination, name);
        byte* control = stackalloc byte[64];
        nuint controlLength = 0;
        if (source is not null && source.AddressFamily == Family && !IsMulticast(source))
        {
            Span<byte> bytes = stackalloc byte[16];
            source.TryWriteBytes(bytes, out int written);
            if (Family == AddressFamily.InterNetwork)
            {
                controlLength = WriteControlHeader(control, Libc.IPPROTO_IP, Libc.IP_PKTINFO, 12);
                new Span<byte>(control + 16, 12).Clear();
                BinaryPrimitives.WriteInt32LittleEndian(new Span<byte>(control + 16, 4), interfaceIndex);
                bytes[..4].CopyTo(new Span<byte>(control + 16 + 4, 4));
            }
            else
            {
                controlLength = WriteControlHeader(control, Libc.IPPROTO_IPV6, Libc.IPV6_PKTINFO, 20);
                bytes[..16].CopyTo(new Span<byte>(control + 16, 16));
                BinaryPrimitives.WriteInt32LittleEndian(new Span<byte>(control + 32, 4), (int)(source.IsIPv6LinkLocal ? source.ScopeId : 0));
            }
        }

        fixed (byte* p = payload)
        fixed (byte* n = name)
        {
            var iov = new Libc.IoVec { Base = p, Length = (nuint)payload.Length };
            var message = new Libc.MsgHdr { Name = n, NameLength = (uint)nameLength, Iov = &iov, IovLength = 1, Control = controlLength == 0 ? null : control, ControlLength = controlLength };
            if (Libc.SendMsg(_fd, &message, 0) < 0)
            {
                throw LastError($"sendmsg to {Format(destination)}");
            }
        }
    }

    /// <summary>
    /// Opens a socket on <paramref name="address"/> at a port drawn from a cryptographic source within the kernel's
    /// ephemeral range (RFC 6056), so that an off-path attacker cannot guess where a client request's answer goes.
    /// Falls back to a kernel-chosen port when random ones keep being taken.
    /// </summary>
    public static NtpSocket BindEphemeral(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        (int low, int high) = EphemeralRange.Value;
        for (int attempt = 0; attempt < 8; attempt++)
        {
            int port = low + (int)(System.Security.Cryptography.RandomNumberGenerator.GetInt32(high - low + 1));
            try
            {
                return Bind(new IPEndPoint(address, port));
            }
            catch (NtpSocketException e) when (e.AddressInUse)
            {
            }
        }

        return Bind(new IPEndPoint(address, 0));
    }

    private static readonly Lazy<(int Low, int High)> EphemeralRange = new(() =>
    {
        try
        {
            string[] parts = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && int.TryParse(parts[0], out int low) && int.TryParse(parts[1], out int high) && low is > 0 and < 65536 && high >= low && high < 65536)
            {
                return (low, high);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return (32768, 60999);
    });

    /// <summary>Lets the socket send to broadcast addresses (SO_BROADCAST).</summary>
    public void EnableBroadcast() => SetOption(Libc.SOL_SOCKET, Libc.SO_BROADCAST, 1);

    /// <summary>Joins <paramref name="group"/> on interface <paramref name="interfaceIndex"/> (IP_ADD_MEMBERSHIP, IPV6_JOIN_GROUP).</summary>
    public void JoinGroup(IPAddress group, int interfaceIndex)
    {
        ArgumentNullException.ThrowIfNull(group);
        Span<byte> request = stackalloc byte[20];
        request.Clear();
        if (Family == AddressFamily.InterNetworkV6)
        {
            // struct ipv6_mreq: the group, then the interface index.
            group.TryWriteBytes(request[..16], out _);
            BinaryPrimitives.WriteInt32LittleEndian(request[16..], interfaceIndex);
            SetOption(Libc.IPPROTO_IPV6, Libc.IPV6_JOIN_GROUP, request[..20]);
            return;
        }

        // struct ip_mreqn: the group, the local address (any), the interface index.
        group.TryWriteBytes(request[..4], out _);
        BinaryPrimitives.WriteInt32LittleEndian(request[8..], interfaceIndex);
        SetOption(Libc.IPPROTO_IP, Libc.IP_ADD_MEMBERSHIP, request[..12]);
    }

    /// <summary>The interface multicast datagrams leave by, the hop limit they get, and whether they loop back to this host.</summary>
    public void SetMulticast(int interfaceIndex, int ttl, bool loop = false)
    {
        if (Family == AddressFamily.InterNetworkV6)
        {
            SetOption(Libc.IPPROTO_IPV6, Libc.IPV6_MULTICAST_IF, interfaceIndex);
            SetOption(Libc.IPPROTO_IPV6, Libc.IPV6_MULTICAST_HOPS, ttl);
            SetOption(Libc.IPPROTO_IPV6, Libc.IPV6_MULTICAST_LOOP, loop ? 1 : 0);
            return;
        }

        Span<byte> request = stackalloc byte[12];
        request.Clear();
        BinaryPrimitives.WriteInt32LittleEndian(request[8..], interfaceIndex);
        SetOption(Libc.IPPROTO_IP, Libc.IP_MULTICAST_IF, request);
        SetOption(Libc.IPPROTO_IP, Libc.IP_MULTICAST_TTL, ttl);
        SetOption(Libc.IPPROTO_IP, Libc.IP_MULTICAST_LOOP, loop ? 1 : 0);
    }

    /// <summary>Sets the DSCP of outgoing packets (ntp.conf's <c>dscp</c>): IP_TOS or IPV6_TCLASS, shifted past the ECN bits.</summary>
    public void SetDscp(int dscp)
    {
        if (Family == AddressFamily.InterNetworkV6)
        {
            SetOption(Libc.IPPROTO_IPV6, Libc.IPV6_TCLASS, dscp << 2);
        }
        else
        {
            SetOption(Libc.IPPROTO_IP, Libc.IP_TOS, dscp << 2);
        }
    }

    /// <summary>The DSCP set on the socket (for tests and <c>ntpq iostats</c>-like reports).</summary>
    public int Dscp
    {
        get
        {
            int value = 0;
            uint length = sizeof(int);
            bool v6 = Family == AddressFamily.InterNetworkV6;
            if (Libc.GetSockOpt(_fd, v6 ? Libc.IPPROTO_IPV6 : Libc.IPPROTO_IP, v6 ? Libc.IPV6_TCLASS : Libc.IP_TOS, &value, &length) != 0)
            {
                throw LastError("getsockopt");
            }

            return value >> 2;
        }
    }

    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
        {
            Libc.Close(fd);
        }
    }

    public static string Format(IPEndPoint endPoint) =>
        endPoint.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{endPoint.Address}]:{endPoint.Port}" : $"{endPoint.Address}:{endPoint.Port}";

    private void SetOption(int level, int name, ReadOnlySpan<byte> value)
    {
        fixed (byte* p = value)
        {
            if (Libc.SetSockOpt(_fd, level, name, p, (uint)value.Length) != 0)
            {
                throw LastError($"setsockopt({level}, {name})");
            }
        }
    }

    private void SetOption(int level, int name, int value)
    {
        if (Libc.SetSockOpt(_fd, level, name, &value, sizeof(int)) != 0)
        {
            throw LastError($"setsockopt({level}, {name})");
        }
    }

    private static nuint WriteControlHeader(byte* control, int level, int type, int dataLength)
    {
        *(nuint*)control = (nuint)(16 + dataLength);
        *(int*)(control + 8) = level;
        *(int*)(control + 12) = type;
        return (nuint)((16 + dataLength + 7) & ~7);
    }

    /// <summary>A group address is never a source: the kernel then picks the interface's own.</summary>
    private static bool IsMulticast(IPAddress address)
    {
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            return address.IsIPv6Multicast;
        }

        Span<byte> b = stackalloc byte[4];
        address.TryWriteBytes(b, out _);
        return b[0] >= 224;
    }

    private static void ReadControlMessages(Datagram datagram, int controlLength)
    {
        int offset = 0;
        while (offset + 16 <= controlLength)
        {
            byte* header = datagram.Control + offset;
            int length = (int)*(nuint*)header;
            int level = *(int*)(header + 8);
            int type = *(int*)(header + 12);
            if (length < 16 || offset + length > controlLength)
            {
                break;
            }

            byte* data = header + 16;
            if (level == Libc.SOL_SOCKET && type == Libc.SCM_TIMESTAMPNS && length >= 32)
            {
                long seconds = *(long*)data;
                long nanos = *(long*)(data + 8);
                datagram.KernelReceiveTime = NtpTimestamp.FromUnixNanoseconds(seconds * 1_000_000_000L + nanos);
            }
            else if (level == Libc.IPPROTO_IP && type == Libc.IP_PKTINFO && length >= 28)
            {
                datagram.DestinationFamily = Libc.AF_INET;
                datagram.InterfaceIndex = *(int*)data;
                for (int i = 0; i < 4; i++)
                {
                    // struct in_pktinfo: ipi_ifindex, ipi_spec_dst (the local address), ipi_addr (the header's).
                    datagram.DestinationAddress[i] = data[4 + i];
                }

                // A header destination other than the local address: a group, or a broadcast address.
                datagram.SentToGroup = data[8] >= 224 || data[8] != data[4] || data[9] != data[5] || data[10] != data[6] || data[11] != data[7];
                for (int i = 0; i < 4; i++)
                {
                    datagram.HeaderDestination[i] = data[8 + i];
                }
            }
            else if (level == Libc.IPPROTO_IPV6 && type == Libc.IPV6_PKTINFO && length >= 36)
            {
                datagram.DestinationFamily = Libc.AF_INET6;
                for (int i = 0; i < 16; i++)
                {
                    datagram.DestinationAddress[i] = data[i];
                }

                datagram.InterfaceIndex = *(int*)(data + 16);
                datagram.SentToGroup = data[0] == 0xFF;
                for (int i = 0; i < 16; i++)
                {
                    datagram.HeaderDestination[i] = data[i];
                }
            }

            offset += (length + 7) & ~7;
        }
    }

    private static SocketException LastError(string operation)
    {
        int errno = Marshal.GetLastPInvokeError();
        return new NtpSocketException(errno, $"{operation}: {Libc.ErrorText(errno)}");
    }
}

/// <summary>A socket call that failed, with the Linux errno it failed with.</summary>
public sealed class NtpSocketException(int errno, string message) : SocketException(errno)
{
    public int Errno { get; } = errno;

    public bool AddressInUse => Errno == Libc.EADDRINUSE;

    public bool PermissionDenied => Errno == Libc.EACCES;

    public override string Message { get; } = message;
}

/// <summary>sockaddr_in / sockaddr_in6 to and from <see cref="IPEndPoint"/>.</summary>
internal static class SocketAddress
{
    public const int MaxLength = 28;

    public static int Write(IPEndPoint endPoint, Span<byte> destination)
    {
        destination[..MaxLength].Clear();
        if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(destination, Libc.AF_INET6);
            BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)endPoint.Port);
            endPoint.Address.TryWriteBytes(destination[8..24], out _);
            BinaryPrimitives.WriteUInt32LittleEndian(destination[24..], (uint)endPoint.Address.ScopeId);
            return 28;
        }

        BinaryPrimitives.WriteUInt16LittleEndian(destination, Libc.AF_INET);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)endPoint.Port);
        endPoint.Address.TryWriteBytes(destination[4..8], out _);
        return 16;
    }

    public static IPEndPoint ToEndPoint(ReadOnlySpan<byte> name)
    {
        ushort family = BinaryPrimitives.ReadUInt16LittleEndian(name);
        int port = BinaryPrimitives.ReadUInt16BigEndian(name[2..]);
        if (family == Libc.AF_INET6 && name.Length >= 24)
        {
            var address = new IPAddress(name[8..24], name.Length >= 28 ? BinaryPrimitives.ReadUInt32LittleEndian(name[24..]) : 0);
            return new IPEndPoint(address, port);
        }

        return new IPEndPoint(new IPAddress(name[4..8]), port);
    }
}
