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
/// fragments, and configuration diagnostics point inside the text.
/// </summary>
public static class Targets
{
    private static readonly NtpTimestamp Start = NtpTimestamp.FromDateTime(new DateTime(2026, 11, 22, 10, 0, 0, DateTimeKind.Utc));
    private static readonly IPEndPoint Stranger = new(IPAddress.Parse("198.18.0.2"), 40123);
    private static readonly IPEndPoint Server = new(IPAddress.Parse("198.18.0.1"), 123);
    private static readonly IPEndPoint Loopback = new(IPAddress.Loopback, 40124);
    private static readonly byte[] Md5Secret = Encoding.ASCII.GetBytes("fuzz-md5-secret");
    private static readonly byte[] AesSecret = Convert.FromHexString("00112233445566778899aabbccddeeff");

    public static IReadOnlyList<FuzzTarget> All() => [Packet(), Control(), Configuration(), Keys()];

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
