using System.Net;
using System.Net.Sockets;
using System.Text;
using Meridian.Protocol;

namespace Meridian.Client;

/// <summary>A mode 6 error answer or a query that could not be completed, in ntpq's words.</summary>
public sealed class ControlException(string message, ControlError? error = null) : Exception(message)
{
    public ControlError? Error { get; } = error;
}

/// <summary>One mode 6 response, reassembled from its fragments.</summary>
public sealed record ControlResponse(ushort Status, ushort AssociationId, byte[] Data)
{
    public string Text => Encoding.ASCII.GetString(Data);

    public List<KeyValuePair<string, string?>> Variables => ControlVariables.Parse(Data);

    /// <summary>The variables that have values, by name (a repeated name keeps its last value; quotes stay).</summary>
    public Dictionary<string, string> Values =>
        Variables.Where(v => v.Value is not null).GroupBy(v => v.Key).ToDictionary(g => g.Key, g => g.Last().Value!, StringComparer.Ordinal);

    /// <summary>A numeric variable, or 0 when it is missing or not a number.</summary>
    public double Number(string name) =>
        double.TryParse(Values.GetValueOrDefault(name), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double d) ? d : 0;

    /// <summary>A reverse lookup for display, the address itself when there is no name.</summary>
    public static string NameOf(IPAddress address)
    {
        try
        {
            return Dns.GetHostEntry(address).HostName;
        }
        catch (SocketException)
        {
            return address.ToString();
        }
    }
}

/// <summary>
/// The client side of mode 6 (what ntpq, ntpstat and ntptrace speak): one request, then the fragments of the
/// answer, matched by sequence number and opcode, put back together by offset.
/// </summary>
public sealed class ControlClient : IDisposable
{
    private readonly Socket _socket;
    private readonly IPEndPoint _server;
    private ushort _sequence = (ushort)Random.Shared.Next(1, 65536);

    public ControlClient(IPEndPoint server)
    {
        _server = server;
        _socket = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        _socket.Connect(server);
    }

    /// <summary>How long to wait for the first fragment (ntpq's default 5 s) and between fragments.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

    public IPEndPoint Server => _server;

    /// <summary>The key requests are authenticated with when asked (ntpq's keyid, keytype and passwd).</summary>
    public SymmetricKey? Key { get; set; }

    public ControlResponse Query(ControlOpcode opcode, ushort associationId = 0, string request = "", bool authenticate = false)
    {
        ushort sequence = ++_sequence == 0 ? ++_sequence : _sequence;
        byte[] data = Encoding.ASCII.GetBytes(request);
        var header = new ControlHeader { Version = 2, Opcode = opcode, Sequence = sequence, AssociationId = associationId };
        var packet = new byte[(ControlHeader.Size + data.Length + 7) & ~7];
        header.Write(packet, data);
        if (authenticate)
        {
            if (Key is not { } key)
            {
                throw new ControlException("***Keyid and password are needed for this command (keyid, passwd, or -a/-k)");
            }

            packet = key.Append(packet);
        }
        else
        {
            packet = packet[..((ControlHeader.Size + data.Length + 3) & ~3)];
        }

        try
        {
            _socket.Send(packet);
        }
        catch (SocketException e)
        {
            throw new ControlException($"***Socket error; probably ntpd is not running ({e.Message})");
        }

        var fragments = new SortedDictionary<int, byte[]>();
        int? total = null;
        ushort status = 0;
        ushort association = associationId;
        var buffer = new byte[4096];
        DateTime deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            TimeSpan left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero || !_socket.Poll(left, SelectMode.SelectRead))
            {
                throw new ControlException(fragments.Count == 0 ? "***Request timed out" : "***Response from server was incomplete");
            }

            int length;
            try
            {
                length = _socket.Receive(buffer);
            }
            catch (SocketException)
            {
                throw new ControlException("***Socket error; probably ntpd is not running");
            }

            if (!ControlHeader.TryRead(buffer.AsSpan(0, length), out ControlHeader reply, out ReadOnlySpan<byte> payload, out _)
                || !reply.IsResponse || reply.Sequence != sequence || reply.Opcode != opcode)
            {
                continue;
            }

            if (reply.IsError)
            {
                var error = (ControlError)(reply.Status >> 8);
                throw new ControlException("***Server error code " + ErrorName(error), error);
            }

            fragments[reply.Offset] = payload.ToArray();
            status = reply.Status;
            association = reply.AssociationId;
            if (!reply.More)
            {
                total = reply.Offset + reply.Count;
            }

            deadline = DateTime.UtcNow + Timeout;
            if (total is int end && Contiguous(fragments, end))
            {
                byte[] all = fragments.Values.SelectMany(f => f).ToArray();
                return new ControlResponse(status, association, all);
            }
        }
    }

    /// <summary>ntpq's names for the error codes.</summary>
    public static string ErrorName(ControlError error) => error switch
    {
        ControlError.PermissionDenied => "PERMISSION",
        ControlError.BadFormat => "BADFORMAT",
        ControlError.BadOpcode => "BADOP",
        ControlError.UnknownAssociation => "BADASSOC",
        ControlError.UnknownVariable => "UNKNOWNVAR",
        ControlError.BadValue => "BADVALUE",
        ControlError.Restricted => "RESTRICT",
        _ => "UNSPEC",
    };

    /// <summary>The association IDs and status words (READSTAT).</summary>
    public (ushort SystemStatus, List<(ushort Id, ushort Status)> Associations) ReadStatus()
    {
        ControlResponse response = Query(ControlOpcode.ReadStatus);
        var list = new List<(ushort, ushort)>();
        for (int i = 0; i + 3 < response.Data.Length; i += 4)
        {
            list.Add((System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(response.Data.AsSpan(i)), System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(response.Data.AsSpan(i + 2))));
        }

        return (response.Status, list);
    }

    public ControlResponse ReadVariables(ushort associationId = 0, string names = "") => Query(ControlOpcode.ReadVariables, associationId, names);

    public void Dispose() => _socket.Dispose();

    private static bool Contiguous(SortedDictionary<int, byte[]> fragments, int end)
    {
        int next = 0;
        foreach ((int offset, byte[] data) in fragments)
        {
            if (offset != next)
            {
                return false;
            }

            next += data.Length;
        }

        return next == end;
    }

    /// <summary>Resolves a host argument as ntpq does (names, IPv4, IPv6; -4/-6 pick a family); port 123.</summary>
    public static IPEndPoint Resolve(string host, AddressFamily? family = null)
    {
        if (IPAddress.TryParse(host, out IPAddress? literal))
        {
            return new IPEndPoint(literal, 123);
        }

        IPAddress[] addresses = Dns.GetHostAddresses(host);
        IPAddress? chosen = addresses.FirstOrDefault(a => family is null ? a.AddressFamily == AddressFamily.InterNetwork : a.AddressFamily == family)
            ?? addresses.FirstOrDefault(a => family is null || a.AddressFamily == family);
        return chosen is null ? throw new ControlException($"***Can't find host {host}") : new IPEndPoint(chosen, 123);
    }
}
