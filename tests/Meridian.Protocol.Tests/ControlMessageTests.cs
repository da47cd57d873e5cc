using System.Text;
using Meridian.Protocol;

namespace Meridian.Protocol.Tests;

public sealed class ControlMessageTests
{
    [Fact]
    public void A_header_round_trips_with_its_bits_and_padding()
    {
        var header = new ControlHeader { Version = 2, IsResponse = true, IsError = false, More = true, Opcode = ControlOpcode.ReadVariables, Sequence = 0xBEEF, Status = 0x0615, AssociationId = 42, Offset = 468 };
        var buffer = new byte[64];
        int length = header.Write(buffer, "stratum=2"u8);

        Assert.Equal(24, length);
        Assert.Equal(new byte[] { 0x16, 0xA2, 0xBE, 0xEF, 0x06, 0x15, 0x00, 0x2A, 0x01, 0xD4, 0x00, 0x09 }, buffer[..12]);
        Assert.True(ControlHeader.TryRead(buffer.AsSpan(0, length), out ControlHeader read, out ReadOnlySpan<byte> data, out ReadOnlySpan<byte> trailer));
        Assert.Equal(header with { Count = 9 }, read);
        Assert.Equal("stratum=2", Encoding.ASCII.GetString(data));
        Assert.True(trailer.IsEmpty);
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(468, 1)]
    [InlineData(469, 2)]
    [InlineData(2000, 5)]
    public void Responses_are_fragmented_at_468_octets_with_offsets_and_the_more_bit(int size, int fragments)
    {
        byte[] data = Enumerable.Range(0, size).Select(i => (byte)('a' + i % 26)).ToArray();
        List<byte[]> parts = new ControlHeader { Version = 2, IsResponse = true, Opcode = ControlOpcode.ReadVariables, Sequence = 7 }.Fragments(data);

        Assert.Equal(fragments, parts.Count);
        var joined = new List<byte>();
        for (int i = 0; i < parts.Count; i++)
        {
            Assert.Equal(0, parts[i].Length % 4);
            Assert.True(ControlHeader.TryRead(parts[i], out ControlHeader h, out ReadOnlySpan<byte> d, out _));
            Assert.Equal(i < parts.Count - 1, h.More);
            Assert.Equal(joined.Count, h.Offset);
            joined.AddRange(d.ToArray());
        }

        Assert.Equal(data, joined);
    }

    [Fact]
    public void Truncated_or_foreign_messages_are_not_read()
    {
        Assert.False(ControlHeader.TryRead(new byte[11], out _, out _, out _));
        var ntp = new byte[48];
        ntp[0] = 0x23;
        Assert.False(ControlHeader.TryRead(ntp, out _, out _, out _));
        var lying = new byte[12];
        new ControlHeader { Version = 2, Opcode = ControlOpcode.ReadStatus }.Write(lying, []);
        lying[11] = 200;
        Assert.False(ControlHeader.TryRead(lying, out _, out _, out _));
    }

    [Fact]
    public void Variables_parse_names_values_and_quotes_and_format_at_72_columns()
    {
        List<KeyValuePair<string, string?>> parsed = ControlVariables.Parse("version=\"ntpd 4.2.8p15, x\", stratum=2,\r\nrefid=GPS, offset"u8);
        Assert.Equal(["version", "stratum", "refid", "offset"], parsed.Select(p => p.Key));
        Assert.Equal("\"ntpd 4.2.8p15, x\"", parsed[0].Value);
        Assert.Equal("GPS", parsed[2].Value);
        Assert.Null(parsed[3].Value);

        string text = ControlVariables.Format(Enumerable.Range(0, 12).Select(i => new KeyValuePair<string, string>($"name{i}", "value")));
        Assert.All(text.Split("\r\n"), line => Assert.True(line.Length <= 72, line));
        Assert.Equal(12, ControlVariables.Parse(Encoding.ASCII.GetBytes(text)).Count);
    }

    [Fact]
    public void Status_words_pack_as_rfc_9327_says()
    {
        Assert.Equal(0x0615, ControlStatus.System(LeapIndicator.NoWarning, 6, 1, 5));
        Assert.Equal(0xC016, ControlStatus.System(LeapIndicator.Unsynchronized, 0, 1, 6));
        Assert.Equal(0x961A, ControlStatus.Peer(configured: true, authEnabled: false, authentic: false, reachable: true, broadcast: false, selection: 6, eventCount: 1, lastEvent: 10));
        Assert.Equal(0xF0, ControlStatus.System(LeapIndicator.NoWarning, 0, 99, 0) & 0xF0);
    }
}
