using System.Buffers.Binary;
using System.Net;
using Meridian.Protocol;

namespace Meridian.Protocol.Tests;

public sealed class NtpPacketTests
{
    private static NtpHeader RandomHeader(Random random) => new()
    {
        Leap = (LeapIndicator)random.Next(4),
        Version = (byte)random.Next(1, 5),
        Mode = (NtpMode)random.Next(8),
        Stratum = (byte)random.Next(256),
        Poll = (sbyte)random.Next(-128, 128),
        Precision = (sbyte)random.Next(-128, 128),
        RootDelay = new NtpShort((uint)random.NextInt64(uint.MaxValue)),
        RootDispersion = new NtpShort((uint)random.NextInt64(uint.MaxValue)),
        ReferenceId = new ReferenceId((uint)random.NextInt64(uint.MaxValue)),
        ReferenceTimestamp = new NtpTimestamp((ulong)random.NextInt64()),
        OriginTimestamp = new NtpTimestamp((ulong)random.NextInt64()),
        ReceiveTimestamp = new NtpTimestamp((ulong)random.NextInt64()),
        TransmitTimestamp = new NtpTimestamp((ulong)random.NextInt64()),
    };

    [Fact]
    public void Header_round_trips_for_random_valid_packets()
    {
        var random = new Random(7822);
        var buffer = new byte[NtpHeader.Size];
        for (int i = 0; i < 10_000; i++)
        {
            NtpHeader header = RandomHeader(random);
            header.Write(buffer);
            Assert.True(NtpHeader.TryRead(buffer, out NtpHeader decoded));
            Assert.Equal(header, decoded);
            Assert.Equal(PacketStatus.Ok, NtpPacket.TryParse(buffer, out NtpPacket packet));
            Assert.Equal(header, packet.Header);
        }
    }

    [Fact]
    public void First_octet_packs_leap_version_and_mode()
    {
        var buffer = new byte[NtpHeader.Size];
        new NtpHeader { Leap = LeapIndicator.Unsynchronized, Version = 4, Mode = NtpMode.Client }.Write(buffer);
        Assert.Equal(0xE3, buffer[0]);
    }

    [Fact]
    public void Short_datagrams_and_bad_versions_are_rejected()
    {
        Assert.Equal(PacketStatus.TooShort, NtpPacket.TryParse(new byte[47], out _));
        var packet = new byte[48];
        packet[0] = 0x03; // version 0
        Assert.Equal(PacketStatus.BadVersion, NtpPacket.TryParse(packet, out _));
        packet[0] = 0x2B; // version 5
        Assert.Equal(PacketStatus.BadVersion, NtpPacket.TryParse(packet, out _));
    }

    [Theory]
    [InlineData(4, true)]
    [InlineData(20, false)]
    [InlineData(24, false)]
    public void Trailers_of_mac_lengths_are_recognized(int trailerLength, bool cryptoNak)
    {
        var datagram = new byte[48 + trailerLength];
        datagram[0] = 0x23;
        BinaryPrimitives.WriteUInt32BigEndian(datagram.AsSpan(48), cryptoNak ? 0u : 42u);
        Assert.Equal(PacketStatus.Ok, NtpPacket.TryParse(datagram, out NtpPacket packet));
        Assert.Equal(cryptoNak, packet.IsCryptoNak);
        Assert.Equal(!cryptoNak, packet.HasMac);
        Assert.Equal(cryptoNak ? 0u : 42u, packet.KeyId);
        Assert.Equal(trailerLength - 4, packet.Digest.Length);
        Assert.Equal(48, packet.Authenticated.Length);
    }

    [Theory]
    [InlineData(8)]
    [InlineData(12)]
    [InlineData(21)]
    public void Trailers_of_other_lengths_are_rejected(int trailerLength)
    {
        var datagram = new byte[48 + trailerLength];
        datagram[0] = 0x1B; // version 3: no extension fields
        Assert.Equal(PacketStatus.BadTrailer, NtpPacket.TryParse(datagram, out _));
    }

    [Fact]
    public void Extension_fields_are_walked_before_the_mac()
    {
        var datagram = new byte[48 + 16 + 28 + 20];
        datagram[0] = 0x23;
        int at = 48;
        at += ExtensionFieldWriter.Write(datagram.AsSpan(at), 0x0104, new byte[] { 1, 2, 3 });
        at += ExtensionFieldWriter.Write(datagram.AsSpan(at), 0x0204, new byte[24]);
        BinaryPrimitives.WriteUInt32BigEndian(datagram.AsSpan(at), 7);

        Assert.Equal(PacketStatus.Ok, NtpPacket.TryParse(datagram, out NtpPacket packet));
        Assert.Equal(7u, packet.KeyId);
        Assert.Equal(48 + 44, packet.Authenticated.Length);
        var types = new List<ushort>();
        var lengths = new List<int>();
        foreach (ExtensionField field in packet.EnumerateExtensionFields())
        {
            types.Add(field.Type);
            lengths.Add(field.Value.Length);
        }

        Assert.Equal(new ushort[] { 0x0104, 0x0204 }, types);
        Assert.Equal(new[] { 12, 24 }, lengths);
    }

    [Theory]
    [InlineData(12)] // below the minimum of 16
    [InlineData(18)] // not a multiple of 4
    [InlineData(64)] // past the end
    public void Bad_extension_field_lengths_are_rejected(int declaredLength)
    {
        var datagram = new byte[48 + 32];
        datagram[0] = 0x23;
        BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(48), 0x0104);
        BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(50), (ushort)declaredLength);
        Assert.Equal(PacketStatus.BadExtensionField, NtpPacket.TryParse(datagram, out _));
    }

    [Fact]
    public void Random_and_mutated_datagrams_never_throw()
    {
        var random = new Random(9109);
        var valid = new byte[48 + 16 + 20];
        valid[0] = 0x23;
        ExtensionFieldWriter.Write(valid.AsSpan(48), 0x0104, new byte[4]);
        int ok = 0;
        for (int i = 0; i < 200_000; i++)
        {
            byte[] datagram;
            if (i % 2 == 0)
            {
                datagram = new byte[random.Next(0, 200)];
                random.NextBytes(datagram);
            }
            else
            {
                datagram = valid[..random.Next(0, valid.Length + 1)];
                for (int flips = random.Next(1, 4); flips > 0 && datagram.Length > 0; flips--)
                {
                    datagram[random.Next(datagram.Length)] ^= (byte)random.Next(1, 256);
                }
            }

            if (NtpPacket.TryParse(datagram, out NtpPacket packet) == PacketStatus.Ok)
            {
                ok++;
                foreach (ExtensionField field in packet.EnumerateExtensionFields())
                {
                    Assert.True(field.Value.Length <= datagram.Length);
                }
            }
        }

        Assert.InRange(ok, 1, 199_999);
    }
}

public sealed class ReferenceIdTests
{
    [Fact]
    public void Ascii_codes_and_addresses_format_by_stratum()
    {
        ReferenceId locl = ReferenceId.FromAscii("LOCL");
        Assert.Equal(0x4C4F434Cu, locl.Value);
        Assert.Equal("LOCL", locl.ToString(1));
        Assert.Equal("76.79.67.76", locl.ToString(2));
        Assert.Equal("GPS", ReferenceId.FromAscii("GPS").ToAscii());
        Assert.Equal("192.0.2.1", ReferenceId.FromAddress(IPAddress.Parse("192.0.2.1")).ToString(3));
        Assert.Equal("192.0.2.1", ReferenceId.FromAddress(IPAddress.Parse("::ffff:192.0.2.1")).ToString(3));
    }

    [Theory]
    [InlineData("::1", 0xcf404dc8u)]
    [InlineData("2001:db8::1", 0x39ab9b37u)]
    public void IPv6_reference_ids_are_the_first_octets_of_the_md5_digest(string address, uint expected) =>
        Assert.Equal(expected, ReferenceId.FromAddress(IPAddress.Parse(address)).Value);

    [Fact]
    public void Kiss_codes_are_recognized_by_stratum_zero()
    {
        var kiss = new NtpHeader { Mode = NtpMode.Server, Stratum = 0, ReferenceId = KissCode.Rate };
        Assert.True(KissCode.IsKissOfDeath(kiss));
        Assert.True(KissCode.MeansSlowDown(kiss.ReferenceId));
        Assert.False(KissCode.IsKissOfDeath(kiss with { Stratum = 2 }));
        Assert.True(KissCode.MeansStop(KissCode.Deny));
        Assert.True(KissCode.MeansStop(KissCode.Rstr));
        Assert.True(KissCode.MeansUnsynchronized(KissCode.Init));
        Assert.False(KissCode.MeansStop(KissCode.Rate));
        Assert.Equal("rate exceeded", KissCode.Describe(KissCode.Rate));
    }
}
