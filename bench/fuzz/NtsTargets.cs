using Meridian.Protocol;
using Meridian.Protocol.Nts;

namespace Meridian.Bench.Fuzz;

/// <summary>
/// NTS harnesses: NTS-KE messages through the record reader, framing and both message parsers, and NTPv4 packets
/// through the NTS extension field reader. Beyond "no exception": whatever parses re-encodes to something that parses
/// the same, framing agrees with the parsers, and every span the field reader hands out lies inside the packet.
/// </summary>
public static partial class Targets
{
    public static FuzzTarget NtsKe()
    {
        var corpus = new List<byte[]>
        {
            new NtsKeRequest().Encode(),
            new NtsKeRequest { AeadAlgorithms = [15, 30], Server = "ntp.example", Port = 123 }.Encode(),
            new NtsKeResponse { NextProtocols = [0], AeadAlgorithm = 15, Cookies = [new byte[100], new byte[100]], Server = "192.0.2.1", Port = 123 }.Encode(),
            NtsKeResponse.EncodeError(NtsKeErrorCode.BadRequest),
        };
        return new FuzzTarget("ntske", corpus, input =>
        {
            var reader = new NtsKeRecordReader(input, 4096);
            while (reader.Read(out NtsKeRecord record) == NtsKeReadStatus.Record)
            {
                if (record.Type > 0x7FFF || reader.Consumed > input.Length)
                {
                    throw new InvalidOperationException("record outside the buffer");
                }
            }

            NtsKeFrameStatus frame = NtsKeRecordReader.Frame(input, 65536, out int length);
            NtsKeParseResult request = NtsKeRequest.TryParse(input, out NtsKeRequest? parsedRequest);
            if (request.IsOk)
            {
                if (frame != NtsKeFrameStatus.Complete || length != input.Length)
                {
                    throw new InvalidOperationException($"a request parsed but framing says {frame} at {length}");
                }

                if (!NtsKeRequest.TryParse(parsedRequest!.Encode(), out NtsKeRequest? again).IsOk || !again!.NextProtocols.SequenceEqual(parsedRequest.NextProtocols))
                {
                    throw new InvalidOperationException("a parsed request does not round-trip");
                }
            }

            NtsKeParseResult response = NtsKeResponse.TryParse(input, out NtsKeResponse? parsedResponse);
            if (response.IsOk && (!NtsKeResponse.TryParse(parsedResponse!.Encode(), out NtsKeResponse? back).IsOk || back!.Cookies.Count != parsedResponse.Cookies.Count))
            {
                throw new InvalidOperationException("a parsed response does not round-trip");
            }
        });
    }

    public static FuzzTarget NtsFieldsTarget()
    {
        var packet = new byte[NtpHeader.Size + 36 + 104 + 104 + 40];
        new NtpHeader { Version = 4, Mode = NtpMode.Client }.Write(packet);
        int at = NtpHeader.Size;
        at += NtsFieldWriter.WriteUniqueIdentifier(packet.AsSpan(at), new byte[32]);
        at += NtsFieldWriter.WriteCookie(packet.AsSpan(at), new byte[100]);
        at += NtsFieldWriter.WriteCookiePlaceholder(packet.AsSpan(at), 100);
        NtsFieldWriter.WriteAuthenticator(packet.AsSpan(at), new byte[16], new byte[16]);
        var plaintext = new byte[NtpHeader.Size + 208];
        NtsFieldWriter.WriteCookie(plaintext.AsSpan(NtpHeader.Size), new byte[100]);
        NtsFieldWriter.WriteCookie(plaintext.AsSpan(NtpHeader.Size + 104), new byte[100]);
        return new FuzzTarget("ntsfields", [packet, plaintext], input =>
        {
            if (NtsFields.TryRead(input, out NtsFields fields) == NtsFieldStatus.Ok)
            {
                if (fields.AuthenticatorOffset > input.Length || fields.AssociatedData.Length != Math.Max(fields.AuthenticatorOffset, 0)
                    || fields.Nonce.Length + fields.Ciphertext.Length + fields.Cookie.Length + fields.UniqueIdentifier.Length > input.Length)
                {
                    throw new InvalidOperationException("an NTS field span outside the packet");
                }

                foreach (ExtensionField field in fields.EnumerateFields())
                {
                    _ = field.Type;
                }
            }

            if (input.Length >= NtpHeader.Size && NtsPlaintext.TryRead(input.AsSpan(NtpHeader.Size), out NtsPlaintext decrypted) == NtsFieldStatus.Ok)
            {
                int cookies = 0;
                foreach (ReadOnlySpan<byte> cookie in decrypted.EnumerateCookies())
                {
                    cookies++;
                }

                if (cookies != decrypted.CookieCount)
                {
                    throw new InvalidOperationException($"{decrypted.CookieCount} cookies counted, {cookies} enumerated");
                }
            }
        });
    }
}
