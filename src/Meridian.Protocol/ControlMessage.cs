using System.Buffers.Binary;
using System.Text;

namespace Meridian.Protocol;

/// <summary>Mode 6 operation codes (RFC 9327 §2.2; READ_MRU and REQ_NONCE from ntpd).</summary>
public enum ControlOpcode : byte
{
    ReadStatus = 1,
    ReadVariables = 2,
    WriteVariables = 3,
    ReadClock = 4,
    WriteClock = 5,
    SetTrap = 6,
    AsyncMessage = 7,
    Configure = 8,
    SaveConfig = 9,
    ReadMru = 10,
    ReadOrderedList = 11,
    RequestNonce = 12,
    UnsetTrap = 31,
}

/// <summary>The error codes a mode 6 error response carries in the high octet of its status.</summary>
public enum ControlError : byte
{
    Unspecified = 0,
    PermissionDenied = 1,
    BadFormat = 2,
    BadOpcode = 3,
    UnknownAssociation = 4,
    UnknownVariable = 5,
    BadValue = 6,
    Restricted = 7,
}

/// <summary>
/// The 12-octet mode 6 header (RFC 9327 figure 1): R (response), E (error) and M (more) bits, opcode, sequence,
/// status, association ID, and the offset and count of this fragment's data.
/// </summary>
public struct ControlHeader
{
    public const int Size = 12;

    /// <summary>Data octets per fragment, as ntpd sends them.</summary>
    public const int MaxFragmentData = 468;

    public byte Version { get; set; }

    public bool IsResponse { get; set; }

    public bool IsError { get; set; }

    public bool More { get; set; }

    public ControlOpcode Opcode { get; set; }

    public ushort Sequence { get; set; }

    public ushort Status { get; set; }

    public ushort AssociationId { get; set; }

    public ushort Offset { get; set; }

    public ushort Count { get; set; }

    /// <summary>Reads a mode 6 message: the header, its data, and whatever follows the padded data (a MAC, if any).</summary>
    public static bool TryRead(ReadOnlySpan<byte> message, out ControlHeader header, out ReadOnlySpan<byte> data, out ReadOnlySpan<byte> trailer)
    {
        header = default;
        data = default;
        trailer = default;
        if (message.Length < Size || (message[0] & 0x7) != (byte)NtpMode.Control)
        {
            return false;
        }

        header = new ControlHeader
        {
            Version = (byte)((message[0] >> 3) & 0x7),
            IsResponse = (message[1] & 0x80) != 0,
            IsError = (message[1] & 0x40) != 0,
            More = (message[1] & 0x20) != 0,
            Opcode = (ControlOpcode)(message[1] & 0x1F),
            Sequence = BinaryPrimitives.ReadUInt16BigEndian(message[2..]),
            Status = BinaryPrimitives.ReadUInt16BigEndian(message[4..]),
            AssociationId = BinaryPrimitives.ReadUInt16BigEndian(message[6..]),
            Offset = BinaryPrimitives.ReadUInt16BigEndian(message[8..]),
            Count = BinaryPrimitives.ReadUInt16BigEndian(message[10..]),
        };
        if (Size + header.Count > message.Length)
        {
            return false;
        }

        data = message.Slice(Size, header.Count);
        int padded = Math.Min(message.Length, (Size + header.Count + 3) & ~3);
        trailer = message[padded..];
        return true;
    }

    /// <summary>Writes the header and <paramref name="data"/>, zero-padded to a multiple of four; returns the length.</summary>
    public readonly int Write(Span<byte> destination, ReadOnlySpan<byte> data)
    {
        int length = (Size + data.Length + 3) & ~3;
        destination[..length].Clear();
        destination[0] = (byte)((Version << 3) | (byte)NtpMode.Control);
        destination[1] = (byte)((IsResponse ? 0x80 : 0) | (IsError ? 0x40 : 0) | (More ? 0x20 : 0) | ((byte)Opcode & 0x1F));
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], Sequence);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], Status);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], AssociationId);
        BinaryPrimitives.WriteUInt16BigEndian(destination[8..], Offset);
        BinaryPrimitives.WriteUInt16BigEndian(destination[10..], (ushort)data.Length);
        data.CopyTo(destination[Size..]);
        return length;
    }

    /// <summary>Splits a response into fragments of at most <see cref="MaxFragmentData"/> octets, the More bit on all but the last.</summary>
    public readonly List<byte[]> Fragments(ReadOnlySpan<byte> data, int maxFragmentData = MaxFragmentData)
    {
        var fragments = new List<byte[]>();
        int offset = 0;
        do
        {
            int count = Math.Min(maxFragmentData, data.Length - offset);
            ControlHeader fragment = this with { Offset = (ushort)offset, More = offset + count < data.Length };
            var buffer = new byte[(Size + count + 3) & ~3];
            fragment.Write(buffer, data.Slice(offset, count));
            fragments.Add(buffer);
            offset += count;
        }
        while (offset < data.Length);
        return fragments;
    }
}

/// <summary>
/// The text of mode 6 variables: <c>name=value, name=value</c> (values may be quoted), in the ASCII the protocol
/// carries.
/// </summary>
public static class ControlVariables
{
    /// <summary>Parses a variable list; names without a value (a READVAR request) get null. Quoted values keep their quotes, as ntpq shows them.</summary>
    public static List<KeyValuePair<string, string?>> Parse(ReadOnlySpan<byte> data)
    {
        var result = new List<KeyValuePair<string, string?>>();
        string text = Encoding.ASCII.GetString(data).TrimEnd('\0');
        int i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && (text[i] is ',' or ' ' or '\r' or '\n' or '\t'))
            {
                i++;
            }

            int start = i;
            while (i < text.Length && text[i] is not ('=' or ','))
            {
                i++;
            }

            string name = text[start..i].Trim();
            string? value = null;
            if (i < text.Length && text[i] == '=')
            {
                i++;
                if (i < text.Length && text[i] == '"')
                {
                    int close = text.IndexOf('"', i + 1);
                    close = close < 0 ? text.Length - 1 : close;
                    value = text[i..(close + 1)];
                    i = Math.Min(text.Length, close + 1);
                    while (i < text.Length && text[i] != ',')
                    {
                        i++;
                    }
                }
                else
                {
                    int end = text.IndexOf(',', i);
                    end = end < 0 ? text.Length : end;
                    value = text[i..end].Trim();
                    i = end;
                }
            }

            if (name.Length > 0)
            {
                result.Add(new KeyValuePair<string, string?>(name, value));
            }
        }

        return result;
    }

    /// <summary>Formats variables as ntpd sends them: <c>a=1, b="text"</c>, with a line break before a line would pass 72 columns.</summary>
    public static string Format(IEnumerable<KeyValuePair<string, string>> variables)
    {
        var text = new StringBuilder();
        int lineStart = 0;
        foreach ((string name, string value) in variables)
        {
            string item = $"{name}={value}";
            if (text.Length > 0)
            {
                text.Append(',');
                if (text.Length - lineStart + 1 + item.Length > 72)
                {
                    text.Append("\r\n");
                    lineStart = text.Length;
                }
                else
                {
                    text.Append(' ');
                }
            }

            text.Append(item);
        }

        return text.ToString();
    }
}

/// <summary>The 16-bit status words of mode 6 (RFC 9327 §2.4).</summary>
public static class ControlStatus
{
    /// <summary>System status: leap (2 bits), clock source (6), event count (4), last event (4).</summary>
    public static ushort System(LeapIndicator leap, int source, int eventCount, int lastEvent) =>
        (ushort)(((int)leap << 14) | ((source & 0x3F) << 8) | (Math.Min(eventCount, 15) << 4) | (lastEvent & 0xF));

    /// <summary>Peer status: configured, authentication enabled, authentic, reachable, broadcast (5 bits), selection (3), event count (4), last event (4).</summary>
    public static ushort Peer(bool configured, bool authEnabled, bool authentic, bool reachable, bool broadcast, int selection, int eventCount, int lastEvent) =>
        (ushort)(((configured ? 0x10 : 0) | (authEnabled ? 0x08 : 0) | (authentic ? 0x04 : 0) | (reachable ? 0x02 : 0) | (broadcast ? 0x01 : 0)) << 11
            | ((selection & 0x7) << 8) | (Math.Min(eventCount, 15) << 4) | (lastEvent & 0xF));

    /// <summary>Clock status: the clock's condition (8 bits) and its last event (8 bits).</summary>
    public static ushort Clock(int status, int lastEvent) => (ushort)(((status & 0xFF) << 8) | (lastEvent & 0xFF));

    /// <summary>ntpq's names of the clock conditions (4.2.8 wording).</summary>
    public static readonly string[] ClockNames = ["clk_unspec", "clk_no_reply", "clk_bad_format", "clk_fault", "clk_bad_signal", "clk_bad_date", "clk_bad_time"];

    public static readonly string[] LeapNames = ["leap_none", "leap_add_sec", "leap_del_sec", "leap_alarm"];

    public static readonly string[] SourceNames = ["sync_unspec", "sync_pps", "sync_lf_radio", "sync_hf_radio", "sync_uhf_radio", "sync_local", "sync_ntp", "sync_other", "sync_wristwatch", "sync_telephone"];

    public static readonly string[] SystemEventNames = ["unspecified", "freq_not_set", "freq_set", "spike_detect", "freq_mode", "clock_sync", "restart", "panic_stop", "no_sys_peer", "leap_armed", "leap_disarmed", "leap_event", "clock_step", "kern", "TAI", "stale_leapsecond_values"];

    public static readonly string[] PeerEventNames = ["unspecified", "mobilize", "demobilize", "unreachable", "reachable", "restart", "no_reply", "rate_exceeded", "access_denied", "leap_armed", "sys_peer", "clock_event", "bad_auth", "popcorn", "interleave_mode", "interleave_error"];

    public static readonly string[] SelectionNames = ["sel_reject", "sel_falsetick", "sel_excess", "sel_outlier", "sel_candidate", "sel_backup", "sel_sys.peer", "sel_pps.peer"];

    /// <summary>ntpq's condition column for each selection code.</summary>
    public static readonly string[] ConditionNames = ["reject", "falsetick", "excess", "outlier", "candidate", "backup", "sys.peer", "pps.peer"];
}
