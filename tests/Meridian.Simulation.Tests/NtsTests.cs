using System.Net;
using Meridian.Engine;
using Meridian.Engine.Nts;
using Meridian.Protocol;
using Meridian.Protocol.Nts;

namespace Meridian.Simulation.Tests;

/// <summary>
/// A stratum 1 NTS server written for these tests (RFC 8915 §5.7, server side), standing in for the real one until
/// it exists: it opens the request's cookie, verifies the C2S authenticator, and answers with the identifier, new
/// cookies under S2C and perfect time. <see cref="Tamper"/> plays a man in the middle that flips a reply byte.
/// </summary>
internal sealed class NtsTestServer : ISimulatedHost
{
    private readonly VirtualTime _time;
    private readonly SimulatedNetwork _network;
    private readonly Random _random = new(11);

    public NtsTestServer(IPAddress address, VirtualTime time, SimulatedNetwork network)
    {
        Address = address;
        _time = time;
        _network = network;
        Keys = new ServerCookieKeys(new SeededRandomSource(5), time.Epoch.ToDateTime());
        network.Attach(this);
    }

    public IPAddress Address { get; }

    public ServerCookieKeys Keys { get; }

    public bool Tamper { get; set; }

    public int Answered { get; private set; }

    public int KeyExchanges { get; private set; }

    /// <summary>What NTS-KE gives the client: fresh keys and eight cookies (RFC 8915 §4).</summary>
    public NtsClientState KeyExchange()
    {
        KeyExchanges++;
        byte[] c2s = new byte[32], s2c = new byte[32];
        _random.NextBytes(c2s);
        _random.NextBytes(s2c);
        var cookies = new List<byte[]>();
        for (int i = 0; i < 8; i++)
        {
            byte[] cookie = new byte[ServerCookieKeys.CookieLength(NtsAeadId.AesSivCmac256)!.Value];
            Keys.Seal(NtsAeadId.AesSivCmac256, c2s, s2c, cookie);
            cookies.Add(cookie);
        }

        return NtsClientState.FromKeyExchange(NtsAeadId.AesSivCmac256, c2s, s2c, cookies);
    }

    public void Deliver(byte[] datagram, IPEndPoint from, IPAddress? group)
    {
        NtpTimestamp receive = _time.Utc(_time.Now);
        if (group is not null || NtsFields.TryRead(datagram, out NtsFields fields) != NtsFieldStatus.Ok || !fields.HasAuthenticator)
        {
            return;
        }

        int cookieLength = ServerCookieKeys.CookieLength(NtsAeadId.AesSivCmac256)!.Value;
        if (fields.Cookie.Length < cookieLength || Keys.Open(fields.Cookie[..cookieLength], out NtsCookie? cookie) != CookieStatus.Opened)
        {
            return;
        }

        using INtsAead c2s = NtsAead.Create(cookie!.AeadId, cookie.C2SKey)!;
        using INtsAead s2c = NtsAead.Create(cookie.AeadId, cookie.S2CKey)!;
        if (!c2s.TryOpen(fields.Nonce, fields.AssociatedData, fields.Ciphertext, new byte[fields.Ciphertext.Length], out _))
        {
            return;
        }

        NtpHeader.TryRead(datagram, out NtpHeader asked);
        byte[] reply = new byte[2048];
        new NtpHeader
        {
            Version = 4, Mode = NtpMode.Server, Stratum = 1, Precision = -20, Poll = asked.Poll,
            ReferenceId = ReferenceId.FromAscii("GPS"), ReferenceTimestamp = receive, RootDispersion = NtpShort.FromSeconds(0.0001),
            OriginTimestamp = asked.TransmitTimestamp, ReceiveTimestamp = receive, TransmitTimestamp = receive + NtpDuration.FromSeconds(0.00001),
        }.Write(reply);
        int position = NtpHeader.Size + NtsFieldWriter.WriteUniqueIdentifier(reply.AsSpan(NtpHeader.Size), fields.UniqueIdentifier);

        var plaintext = new List<byte>();
        byte[] one = new byte[cookieLength], field = new byte[NtsFieldWriter.FieldLength(cookieLength)];
        for (int i = 0; i <= fields.PlaceholderCount; i++)
        {
            Keys.Seal(cookie.AeadId, cookie.C2SKey, cookie.S2CKey, one);
            plaintext.AddRange(field.AsSpan(0, NtsFieldWriter.WriteCookie(field, one)).ToArray());
        }

        byte[] nonce = new byte[16];
        _random.NextBytes(nonce);
        byte[] sealedPart = new byte[plaintext.Count + s2c.Overhead];
        s2c.Seal(nonce, reply.AsSpan(0, position), plaintext.ToArray(), sealedPart);
        position += NtsFieldWriter.WriteAuthenticator(reply.AsSpan(position), nonce, sealedPart);
        if (Tamper)
        {
            // The man in the middle moves the server's transmit timestamp by a quarter second.
            reply[44] ^= 0x40;
        }

        Answered++;
        _network.Send(new IPEndPoint(Address, 123), from, reply[..position]);
    }
}

/// <summary>NTS (RFC 8915) through the real engine: key exchange on demand, authenticated samples, forgeries refused.</summary>
public sealed class NtsTests
{
    [Fact]
    public void A_client_synchronizes_over_nts_asking_for_key_exchange_only_at_start()
    {
        var lab = new Lab(seed: 81);
        var server = new NtsTestServer(IPAddress.Parse("198.18.0.50"), lab.Time, lab.Network);
        var client = lab.Node(new ClockModel { InitialOffset = 0.040, InitialFrequency = 3e-6 });
        client.KeyExchange = _ => server.KeyExchange();
        Association association = client.AddServer(server.Address, s => s with { Nts = true, Iburst = true });

        lab.Run(2 * 3600);

        Assert.Equal(1, server.KeyExchanges);
        Assert.True(server.Answered > 15, $"{server.Answered} answers");
        Assert.Equal(0, association.BogusNts);
        Assert.True(association.Authentic);
        Assert.Equal(0xFF, association.Reach);
        Assert.Equal(8, association.NtsCookies);
        Assert.Same(association, client.Engine.SystemPeer);
        Assert.True(Math.Abs(client.Clock.Error) < 0.001, $"{client.Clock.Error * 1e6:0} µs");
    }

    [Fact]
    public void Replies_forged_in_flight_give_no_samples()
    {
        var lab = new Lab(seed: 83);
        var server = new NtpsTamperingFixture(lab);
        lab.Run(3600);

        Association association = server.Association;
        Assert.True(server.Server.Answered >= 8);
        Assert.Equal(server.Server.Answered, association.BogusNts);
        Assert.Equal(0, association.Filter.Count);
        Assert.Equal(0, association.Reach);
        Assert.Null(server.Client.Engine.SystemPeer);

        // Its cookies all spent on unanswered requests, the association asks for NTS-KE again and gets it.
        Assert.True(server.Server.KeyExchanges >= 2, $"{server.Server.KeyExchanges} key exchanges");
    }

    private sealed class NtpsTamperingFixture
    {
        public NtpsTamperingFixture(Lab lab)
        {
            Server = new NtsTestServer(IPAddress.Parse("198.18.0.51"), lab.Time, lab.Network) { Tamper = true };
            Client = lab.Node(new ClockModel { InitialOffset = 0.040 });
            Client.KeyExchange = _ => Server.KeyExchange();
            Association = Client.AddServer(Server.Address, s => s with { Nts = true, Iburst = true });
        }

        public NtsTestServer Server { get; }

        public SimulatedNode Client { get; }

        public Association Association { get; }
    }
}
