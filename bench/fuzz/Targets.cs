using System.Net;
using System.Text;
using Meridian.Config;
using Meridian.Engine;
using Meridian.Protocol;

namespace Meridian.Bench.Fuzz;

/// <summary>
/// The harnesses, one per parser: NTP packets (header, extension fields, MAC trailers) through the whole engine,
/// mode 6 requests through the control responder, <c>ntp.conf</c> text, and keys files. Each checks more than "no
/// exception": a packet from a stranger never gets more octets back than it had, control responses are well-formed
/// fragments, configuration diagnostics point inside the text, NMEA sentences that parse are in range and their
/// obscured copies stay inside their buffer, and SHM segments survive a write and a read.
/// </summary>
public static partial class Targets
{
    private static readonly NtpTimestamp Start = NtpTimestamp.FromDateTime(new DateTime(2026, 11, 22, 10, 0, 0, DateTimeKind.Utc));
    private static readonly IPEndPoint Stranger = new(IPAddress.Parse("198.18.0.2"), 40123);
    private static readonly IPEndPoint Server = new(IPAddress.Parse("198.18.0.1"), 123);
    private static readonly IPEndPoint Loopback = new(IPAddress.Loopback, 40124);
    private static readonly byte[] Md5Secret = Encoding.ASCII.GetBytes("fuzz-md5-secret");
    private static readonly byte[] AesSecret = Convert.FromHexString("00112233445566778899aabbccddeeff");

    public static IReadOnlyList<FuzzTarget> All() => [Packet(), Control(), Configuration(), Keys(), Nmea(), Shm(), NtsKe(), NtsFieldsTarget(), Cookie(), NtsPacket()];

    /// <summary>Packets of every mode from a stranger, the configured server and loopback, into a running engine.</summary>
    public static FuzzTarget Packet()
    {
        (NtpEngine engine, Transport transport) = Engine();
        double now = 20;
        int turn = 0;
        return new FuzzTarget("packet", PacketCorpus(), input =>
        {
            IPEndPoint from = (turn++ % 3) switch { 0 => Stranger, 1 => Server, _ => Loopback };
            now += 0.001;
            transport.Octets = 0;
            engine.Receive(input, from, Start + NtpDuration.FromSeconds(now), now);
            while (engine.ConfigurationRequests.TryDequeue(out ConfigurationRequest? configuration))
            {
                // What the daemon does with an authenticated :config: apply it, then have the engine answer.
                engine.AnswerConfiguration(configuration, "Config Succeeded", now);
            }

            if (from == Stranger && transport.Octets > input.Length)
            {
                throw new InvalidOperationException($"amplification: {input.Length} octets in, {transport.Octets} out");
            }

            Span<byte> reply = stackalloc byte[ServerResponder.MaxReplyLength];
            int length = engine.Serve(input, MruKey.From(Stranger), Start + NtpDuration.FromSeconds(now), reply);
            if (length > Math.Max(input.Length, NtpHeader.Size))
            {
                throw new InvalidOperationException($"amplification on the serving path: {input.Length} octets in, {length} out");
            }

            if ((int)now % 64 == 0)
            {
                engine.Tick(now);
            }
        });
    }

    /// <summary>Mode 6 requests from loopback (everything allowed) straight into the control responder.</summary>
    public static FuzzTarget Control()
    {
        (NtpEngine engine, _) = Engine();
        double now = 20;
        return new FuzzTarget("mode6", PacketCorpus().Where(p => (p[0] & 7) == 6).ToList(), input =>
        {
            now += 0.001;
            ControlAnswer answer = engine.Control.Respond(input, engine.Snapshot(now), Loopback);
            if (answer.Configuration is { } configuration)
            {
                answer = answer with { Fragments = engine.Control.AnswerConfiguration(configuration, "Config Succeeded", engine.Snapshot(now)) };
            }

            foreach (byte[] fragment in answer.Fragments)
            {
                if (!ControlHeader.TryRead(fragment, out ControlHeader header, out ReadOnlySpan<byte> data, out _) || !header.IsResponse || data.Length > ControlHeader.MaxFragmentData)
                {
                    throw new InvalidOperationException($"malformed response fragment {Convert.ToHexString(fragment)}");
                }
            }
        });
    }

    /// <summary>ntp.conf text: the seed configurations and their mutations.</summary>
    public static FuzzTarget Configuration()
    {
        string seeds = Path.Combine(AppContext.BaseDirectory, "Seeds");
        var corpus = Directory.Exists(seeds)
            ? Directory.GetFiles(seeds, "*.conf").Select(File.ReadAllBytes).ToList()
            : [Encoding.ASCII.GetBytes("server 192.0.2.1 iburst\nrestrict default kod limited nomodify\nfudge 127.127.1.0 stratum 10\n")];
        return new FuzzTarget("ntp.conf", corpus, input =>
        {
            string text = Encoding.Latin1.GetString(input);
            NtpConfiguration config = ConfigParser.Parse(text, "fuzz.conf");
            int lines = text.Count(c => c == '\n') + 2;
            foreach (ConfigDiagnostic d in config.Diagnostics)
            {
                if (d.File == "fuzz.conf" && (d.Line < 1 || d.Line > lines || d.Column < 1))
                {
                    throw new InvalidOperationException($"diagnostic outside the text: {d}");
                }
            }
        });
    }

    /// <summary>Keys files.</summary>
    public static FuzzTarget Keys()
    {
        byte[][] corpus =
        [
            Encoding.ASCII.GetBytes("# keys\n1 MD5 short # comment\n2 SHA1 0123456789abcdef0123456789abcdef01234567\n3 SHA256 k3\n4 AES128CMAC 000102030405060708090a0b0c0d0e0f\n"),
            Encoding.ASCII.GetBytes(KeysFileWriter.Generate("fuzz", new DateTime(2026, 11, 22, 0, 0, 0, DateTimeKind.Utc))),
            Encoding.ASCII.GetBytes("65535 M BadKey\n2313 M APassword\n"),
        ];
        return new FuzzTarget("keys", corpus, input =>
        {
            var problems = new List<ConfigDiagnostic>();
            KeyRing keys = KeyRing.Parse(Encoding.Latin1.GetString(input), "fuzz.keys", problems);
            if (keys.Ids.Any(id => id is < 1 or > 65535))
            {
                throw new InvalidOperationException("a key ID outside 1..65535");
            }
        });
    }

    /// <summary>
    /// Lines from an NMEA receiver (ntpd's type 20): whatever parses has its fields in range and a date exactly when
    /// the sentence carries one; the <c>flag4</c> copy never writes past a buffer the size of the line, is 7-bit,
    /// and obscuring it again changes nothing.
    /// </summary>
    public static FuzzTarget Nmea()
    {
        const int guard = 16;
        string[] lines =
        [
            "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A",
            "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W",
            "$GNRMC,225446.00,V,,,,,,,191194,,,N",
            "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,",
            "$GLGGA,,,,,,0,00,99.99,,,,,,",
            "$GPGLL,5057.970,N,00146.110,E,142451,A*27",
            "$GPZDA,235960.123456789,31,12,2016,00,00",
            "$GPZDG,120001.00,22,11,2026,00,00,1",
            "$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00",
            "\r\n",
        ];
        var corpus = new List<byte[]>();
        foreach (string line in lines)
        {
            byte[] bytes = Encoding.ASCII.GetBytes(line);
            int star = line.IndexOf('*', StringComparison.Ordinal);
            if (star < 0 && line.StartsWith('$'))
            {
                // The checksummed form too, so that mutations reach the field parsers past the checksum test.
                byte sum = 0;
                foreach (byte b in bytes.AsSpan(1))
                {
                    sum ^= b;
                }

                corpus.Add([.. bytes, .. Encoding.ASCII.GetBytes($"*{sum:X2}")]);
            }

            corpus.Add(bytes);
            corpus.Add([.. bytes.Select(b => (byte)(b | 0x80)), 0x8D, 0x8A]);
        }

        byte[] scratch = new byte[4096 + guard];
        byte[] again = new byte[4096];
        return new FuzzTarget("nmea", corpus, input =>
        {
            NmeaStatus status = NmeaSentence.TryParse(input, out NmeaSentence sentence);
            if (!Enum.IsDefined(status))
            {
                throw new InvalidOperationException($"status {(int)status}");
            }

            if (status == NmeaStatus.Ok)
            {
                CheckInRange(sentence);
            }
            else if (sentence != default)
            {
                throw new InvalidOperationException($"{status} with a sentence {sentence}");
            }

            scratch.AsSpan(input.Length, guard).Fill(0xA5);
            int length = NmeaSentence.Obscure(input, scratch.AsSpan(0, input.Length));
            if (length < 0 || length > input.Length)
            {
                throw new InvalidOperationException($"Obscure returned {length} for {input.Length} bytes");
            }

            if (scratch.AsSpan(input.Length, guard).ContainsAnyExcept((byte)0xA5))
            {
                throw new InvalidOperationException("Obscure wrote past its destination");
            }

            ReadOnlySpan<byte> obscured = scratch.AsSpan(0, length);
            if (obscured.IndexOfAnyInRange((byte)0x80, (byte)0xFF) >= 0)
            {
                throw new InvalidOperationException("Obscure left a parity bit");
            }

            int twice = NmeaSentence.Obscure(obscured, again);
            if (!again.AsSpan(0, twice).SequenceEqual(obscured))
            {
                throw new InvalidOperationException($"Obscure is not idempotent: {Encoding.ASCII.GetString(obscured)}");
            }
        });

        static void CheckInRange(NmeaSentence s)
        {
            NmeaTime t = s.Time;
            bool dated = s.Kind is NmeaKind.Rmc or NmeaKind.Zda or NmeaKind.Zdg;
            bool dateOk = s.Date switch
            {
                null => !dated,
                { } d => dated && d.Month is >= 1 and <= 12 && d.Day is >= 1 and <= 31
                    && (d.TwoDigitYear ? s.Kind == NmeaKind.Rmc && d.Year is >= 0 and <= 99 : s.Kind != NmeaKind.Rmc && d.Year is > 1980 and <= 9999),
            };
            if (!Enum.IsDefined(s.Kind) || t.Hour is < 0 or > 23 || t.Minute is < 0 or > 59 || t.Second is < 0 or > 60
                || t.Nanosecond is < 0 or > 999_999_999 || !dateOk || (s.Kind is NmeaKind.Zda or NmeaKind.Zdg && !s.Valid))
            {
                throw new InvalidOperationException($"out of range: {s}");
            }
        }
    }

    /// <summary>
    /// Segments of ntpd's SHM driver (type 28) as any writer may leave them: a short one is an argument error, a
    /// full one survives Write then Read, and the two timestamps match an independent 128-bit computation of
    /// ntpd's rule (nanoseconds only when both extend their microseconds).
    /// </summary>
    public static FuzzTarget Shm()
    {
        static byte[] Segment(ShmTime t)
        {
            var bytes = new byte[ShmTime.Size];
            t.Write(bytes);
            return bytes;
        }

        const long unix = 1_795_000_000;
        byte[][] corpus =
        [
            Segment(new ShmTime { Mode = 1, Count = 7, ClockSeconds = unix, ClockMicroseconds = 123_456, ClockNanoseconds = 123_456_789, ReceiveSeconds = unix, ReceiveMicroseconds = 124_000, ReceiveNanoseconds = 124_000_500, Precision = -20, Samples = 3, Valid = 1 }),
            Segment(new ShmTime { Mode = 0, Count = 1, ClockSeconds = unix, ClockMicroseconds = 999_999, ReceiveSeconds = unix + 1, ReceiveMicroseconds = 5, Leap = 3, Precision = -1, Valid = 1 }),
            Segment(new ShmTime { Mode = 1, ClockSeconds = -1, ClockMicroseconds = -1, ReceiveSeconds = long.MaxValue, ReceiveMicroseconds = int.MaxValue, ReceiveNanoseconds = uint.MaxValue }),
            new byte[ShmTime.Size],
        ];
        byte[] padded = new byte[ShmTime.Size];
        byte[] copy = new byte[ShmTime.Size];
        return new FuzzTarget("shm", corpus, input =>
        {
            if (input.Length < ShmTime.Size)
            {
                try
                {
                    ShmTime.Read(input);
                    throw new InvalidOperationException($"a {input.Length}-byte segment was read");
                }
                catch (ArgumentException)
                {
                }

                Array.Clear(padded);
                input.CopyTo(padded, 0);
                input = padded;
            }

            ShmTime t = ShmTime.Read(input);
            t.Write(copy);
            if (ShmTime.Read(copy) != t)
            {
                throw new InvalidOperationException($"Write then Read changed {t}");
            }

            for (int i = 0; i < ShmTime.Size; i++)
            {
                bool spare = i is >= 20 and < 24 or >= ShmTime.DummyOffset;
                if (copy[i] != (spare ? 0 : input[i]))
                {
                    throw new InvalidOperationException($"byte {i} written as {copy[i]:x2}, read as {input[i]:x2}");
                }
            }

            bool nanoseconds = unchecked(t.ClockNanoseconds - (uint)(t.ClockMicroseconds * 1000)) < 1000
                && unchecked(t.ReceiveNanoseconds - (uint)(t.ReceiveMicroseconds * 1000)) < 1000;
            if (nanoseconds != t.UsesNanoseconds
                || t.ClockTime != Expected(t.ClockSeconds, nanoseconds ? t.ClockNanoseconds : t.ClockMicroseconds * (Int128)1000)
                || t.ReceiveTime != Expected(t.ReceiveSeconds, nanoseconds ? t.ReceiveNanoseconds : t.ReceiveMicroseconds * (Int128)1000))
            {
                throw new InvalidOperationException($"timestamps {t.ClockTime} {t.ReceiveTime} of {t}");
            }
        });

        static NtpTimestamp Expected(long seconds, Int128 nanoseconds)
        {
            Int128 total = seconds * (Int128)1_000_000_000 + nanoseconds;
            Int128 whole = Int128.DivRem(total, 1_000_000_000).Quotient;
            if (whole * 1_000_000_000 > total)
            {
                whole--;
            }

            var remainder = (ulong)(total - whole * 1_000_000_000);
            var ntpSeconds = (uint)(ulong)((whole + NtpTimestamp.UnixEpochOffsetSeconds) & 0xFFFF_FFFF);
            return new NtpTimestamp(ntpSeconds, (uint)((remainder << 32) / 1_000_000_000));
        }
    }

    /// <summary>
    /// NTS cookies (RFC 8915 §6) into the server's opener: never a throw, and nothing opens that the server did not
    /// seal, since a mutated cookie that authenticates would be a forgery.
    /// </summary>
    public static FuzzTarget Cookie()
    {
        var keys = new Meridian.Engine.Nts.ServerCookieKeys(new SeededRandomSource(2), Start.ToDateTime());
        var corpus = new List<byte[]>();
        foreach (ushort aead in Meridian.Engine.Nts.NtsAead.Supported)
        {
            int keyLength = Meridian.Engine.Nts.NtsAead.KeyLength(aead)!.Value;
            byte[] cookie = new byte[Meridian.Engine.Nts.ServerCookieKeys.CookieLength(aead)!.Value];
            keys.Seal(aead, new byte[keyLength], Enumerable.Repeat((byte)0xA5, keyLength).ToArray(), cookie);
            corpus.Add(cookie);
        }

        keys.Rotate(Start.ToDateTime().AddDays(1));
        HashSet<string> sealedCookies = corpus.Select(Convert.ToHexString).ToHashSet();
        byte[] c2s = new byte[32], s2c = new byte[32];
        return new FuzzTarget("cookie", corpus, input =>
        {
            if (keys.Open(input, out _, c2s, s2c, out _) == Meridian.Engine.Nts.CookieStatus.Opened && !sealedCookies.Contains(Convert.ToHexString(input)))
            {
                throw new InvalidOperationException($"a cookie the server never sealed opened: {Convert.ToHexString(input)}");
            }
        });
    }

    private static (NtpEngine Engine, Transport Transport) Engine()
    {
        var transport = new Transport();
        var settings = new EngineSettings
        {
            TrustedKeys = [new SymmetricKey(1, MacAlgorithm.Md5, Md5Secret), new SymmetricKey(2, MacAlgorithm.Aes128Cmac, AesSecret)],
            ControlKey = new SymmetricKey(1, MacAlgorithm.Md5, Md5Secret),
            UserVariables = [new UserVariable("rack", "row 4", Default: true)],
        };
        var engine = new NtpEngine(settings, new FixedClock(Start), NoClockControl.Instance, transport, new SeededRandomSource(1));
        engine.Add(new AssociationSettings(Server) { Key = 1 });
        engine.Add(new AssociationSettings(new IPEndPoint(IPAddress.Parse("127.127.1.0"), 123))
        {
            Mode = AssociationMode.Refclock, RefclockType = 1, RefclockStratum = 10, RefclockId = ReferenceId.FromAscii("LOCL"),
        });
        for (int t = 0; t < 20; t++)
        {
            engine.Tick(t);
        }

        return (engine, transport);
    }

    private static List<byte[]> PacketCorpus()
    {
        var corpus = new List<byte[]>();
        byte[] Header(byte version, NtpMode mode, byte stratum = 0)
        {
            var packet = new byte[NtpHeader.Size];
            new NtpHeader { Version = version, Mode = mode, Stratum = stratum, Poll = 6, TransmitTimestamp = new NtpTimestamp(0xE5B8C3A1_7C6F2B1A), ReferenceId = ReferenceId.FromAscii("GPS") }.Write(packet);
            return packet;
        }

        for (byte v = 1; v <= 4; v++)
        {
            corpus.Add(Header(v, NtpMode.Client));
        }

        corpus.Add(Header(4, NtpMode.Server, 1));
        corpus.Add(Header(4, NtpMode.SymmetricActive, 2));
        corpus.Add(Header(4, NtpMode.Broadcast, 2));
        corpus.Add(Mac.Append(MacAlgorithm.Md5, 1, Md5Secret, Header(4, NtpMode.Client)));
        corpus.Add(Mac.Append(MacAlgorithm.Aes128Cmac, 2, AesSecret, Header(4, NtpMode.Client)));
        corpus.Add(Mac.Append(MacAlgorithm.Md5, 1, Md5Secret, Header(4, NtpMode.Server, 1)));
        corpus.Add([.. Header(4, NtpMode.Client), 0, 0, 0, 0]);
        var withField = new byte[NtpHeader.Size + 20];
        Header(4, NtpMode.Client).CopyTo(withField, 0);
        ExtensionFieldWriter.Write(withField.AsSpan(NtpHeader.Size), 0x0104, new byte[16]);
        corpus.Add(withField);
        corpus.Add(Mac.Append(MacAlgorithm.Md5, 1, Md5Secret, withField));
        corpus.Add([0x17, 0x00, 0x03, 0x2A, 0, 0, 0, 0]); // mode 7 MON_GETLIST_1 (monlist)
        foreach ((ControlOpcode opcode, ushort association, string data) in new[]
        {
            (ControlOpcode.ReadStatus, (ushort)0, ""), (ControlOpcode.ReadVariables, (ushort)0, ""), (ControlOpcode.ReadVariables, (ushort)1, "srcadr,filtdelay"),
            (ControlOpcode.ReadVariables, (ushort)0, "ss_uptime,io_received,kfreq,authkeys,mru_depth"), (ControlOpcode.ReadClock, (ushort)2, ""),
            (ControlOpcode.WriteVariables, (ushort)0, "rack=row 5"), (ControlOpcode.RequestNonce, (ushort)0, ""),
            (ControlOpcode.ReadMru, (ushort)0, "nonce=0123456789abcdef01234567, frags=32, limit=10"), (ControlOpcode.Configure, (ushort)0, "server 127.127.1.1"),
        })
        {
            byte[] bytes = Encoding.ASCII.GetBytes(data);
            var request = new byte[(ControlHeader.Size + bytes.Length + 3) & ~3];
            new ControlHeader { Version = 2, Opcode = opcode, Sequence = 7, AssociationId = association }.Write(request, bytes);
            corpus.Add(request);
            var padded = new byte[(ControlHeader.Size + bytes.Length + 7) & ~7];
            request.AsSpan(0, Math.Min(request.Length, padded.Length)).CopyTo(padded);
            corpus.Add(Mac.Append(MacAlgorithm.Md5, 1, Md5Secret, padded));
        }

        return corpus;
    }

    private sealed class Transport : INtpTransport
    {
        public long Octets { get; set; }

        public NtpTimestamp Send(IPEndPoint destination, IPAddress? source, ReadOnlySpan<byte> packet, bool clientRequest)
        {
            Octets += destination.Equals(Stranger) ? packet.Length : 0;
            return NtpTimestamp.Zero;
        }

        public NtpTimestamp SendToGroup(IPEndPoint group, ReadOnlySpan<byte> packet, int ttl, bool clientRequest) => NtpTimestamp.Zero;
    }

    private sealed class FixedClock(NtpTimestamp now) : IClock
    {
        public NtpTimestamp Now() => now;
    }
}
