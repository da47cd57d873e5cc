using Meridian.Engine;
using Meridian.Engine.Nts;
using Meridian.Protocol;
using Meridian.Protocol.Nts;

namespace Meridian.Bench.Fuzz;

/// <summary>
/// NTS requests through a server responder that holds cookie keys, so mutations reach RFC 8915 §5.7's path: cookie
/// opening, the C2S authenticator, NAKs, the replay filter and the cookie-fitting arithmetic. Beyond "no exception":
/// no reply is longer than its request, and every reply with an authenticator opens under the session's S2C key.
/// </summary>
public static partial class Targets
{
    private static readonly byte[] NtsC2S = Enumerable.Range(0x10, 32).Select(i => (byte)i).ToArray();
    private static readonly byte[] NtsS2C = Enumerable.Range(0x80, 32).Select(i => (byte)i).ToArray();

    public static FuzzTarget NtsPacket()
    {
        var cookieKeys = new ServerCookieKeys(new SeededRandomSource(15), new DateTime(2026, 12, 2, 0, 0, 0, DateTimeKind.Utc));
        var corpus = new List<byte[]>();
        foreach (ushort aeadId in NtsAead.Supported)
        {
            foreach (int placeholders in new[] { 0, 1, 3 })
            {
                corpus.Add(NtsRequest(cookieKeys, aeadId, placeholders, (byte)corpus.Count));
            }
        }

        ServerResponder responder = NtsResponder(cookieKeys);
        int turn = 0;
        return new FuzzTarget("ntspacket", corpus, input =>
        {
            // A fresh responder now and then forgets the identifiers seen, so mutated seeds are answered again.
            if (++turn % 256 == 0)
            {
                responder = NtsResponder(cookieKeys);
            }

            Span<byte> reply = stackalloc byte[ServerResponder.MaxReplyLength];
            int length = responder.Respond(input, Start, reply);
            if (length > Math.Max(input.Length, NtpHeader.Size))
            {
                throw new InvalidOperationException($"amplification on the NTS path: {input.Length} octets in, {length} out");
            }

            if (length > NtpHeader.Size && NtsFields.TryRead(reply[..length], out NtsFields fields) == NtsFieldStatus.Ok && fields.HasAuthenticator)
            {
                Span<byte> plaintext = stackalloc byte[ServerResponder.MaxReplyLength];
                bool opens = false;
                foreach (ushort aeadId in NtsAead.Supported)
                {
                    using INtsAead aead = NtsAead.Create(aeadId, NtsS2C.AsSpan(0, NtsAead.KeyLength(aeadId)!.Value))!;
                    opens |= fields.Nonce.Length == aead.NonceLength && aead.TryOpen(fields.Nonce, fields.AssociatedData, fields.Ciphertext, plaintext, out _);
                }

                if (!opens)
                {
                    throw new InvalidOperationException("an NTS reply whose authenticator does not open under the session's S2C key");
                }
            }
        });
    }

    private static ServerResponder NtsResponder(ServerCookieKeys cookieKeys) =>
        new(new FixedFuzzClock(Start), new SystemState(LeapIndicator.NoWarning, 2, -20, 0, 0.001, ReferenceId.FromAscii("GPS"), Start))
        {
            NtsCookieKeys = cookieKeys,
            Random = new SeededRandomSource(30),
        };

    /// <summary>A client's request (RFC 8915 §5.7) for the fixed session keys, with a Unique Identifier made from <paramref name="tag"/>.</summary>
    private static byte[] NtsRequest(ServerCookieKeys cookieKeys, ushort aeadId, int placeholders, byte tag)
    {
        int keyLength = NtsAead.KeyLength(aeadId)!.Value;
        var cookie = new byte[ServerCookieKeys.CookieLength(aeadId)!.Value];
        cookieKeys.Seal(aeadId, NtsC2S.AsSpan(0, keyLength), NtsS2C.AsSpan(0, keyLength), cookie);
        var packet = new byte[2048];
        new NtpHeader { Version = 4, Mode = NtpMode.Client, TransmitTimestamp = new NtpTimestamp(0x0123456789ABCDEF) }.Write(packet);
        int at = NtpHeader.Size;
        at += NtsFieldWriter.WriteUniqueIdentifier(packet.AsSpan(at), Enumerable.Repeat(tag, 32).ToArray());
        at += NtsFieldWriter.WriteCookie(packet.AsSpan(at), cookie);
        for (int i = 0; i < placeholders; i++)
        {
            at += NtsFieldWriter.WriteCookiePlaceholder(packet.AsSpan(at), cookie.Length);
        }

        using INtsAead aead = NtsAead.Create(aeadId, NtsC2S.AsSpan(0, keyLength))!;
        byte[] nonce = Enumerable.Repeat((byte)(tag + 1), aead.NonceLength).ToArray();
        int authenticator = at;
        at += NtsFieldWriter.WriteAuthenticator(packet.AsSpan(at), nonce, aead.Overhead, out Span<byte> ciphertext, Math.Max(0, 16 - nonce.Length));
        aead.Seal(nonce, packet.AsSpan(0, authenticator), [], ciphertext);
        return packet[..at];
    }

    private sealed class FixedFuzzClock(NtpTimestamp now) : IClock
    {
        public NtpTimestamp Now() => now;
    }
}
