using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Meridian.Protocol;

namespace Meridian.Client;

/// <summary>
/// What ntpq and ntpdc share: the daemon being asked, how addresses are shown, the key for authenticated requests,
/// and the commands that set them (<c>host</c>, <c>timeout</c>, <c>keyid</c>, <c>keytype</c>, <c>passwd</c>) with
/// their answers as the classic tools print them.
/// </summary>
public sealed class ControlSession(string tool)
{
    public ControlClient? Client { get; private set; }

    public string Host { get; private set; } = "localhost";

    /// <summary>-n: numeric addresses, no name lookups.</summary>
    public bool Numeric { get; set; }

    public AddressFamily? Family { get; set; }

    public TimeSpan Timeout { get; private set; } = TimeSpan.FromSeconds(5);

    public uint? KeyId { get; set; }

    public MacAlgorithm KeyType { get; set; } = MacAlgorithm.Md5;

    public byte[]? Password { get; set; }

    /// <summary>How addresses are shown: names unless <see cref="Numeric"/>.</summary>
    public Func<IPAddress, string>? Names => Numeric ? null : ControlResponse.NameOf;

    /// <summary>Opens a client for <paramref name="host"/>; prints the classic error and returns false when it cannot.</summary>
    public bool Connect(string host)
    {
        try
        {
            Client?.Dispose();
            Client = new ControlClient(ControlClient.Resolve(host, Family)) { Timeout = Timeout };
            Host = host;
            UpdateKey();
            return true;
        }
        catch (Exception e) when (e is SocketException or ControlException)
        {
            Console.Error.WriteLine(e is ControlException ? e.Message : $"***Can't find host {host}");
            return false;
        }
    }

    /// <summary>-a keyid -k keyfile: the key's type and secret, read as the daemon reads keys files.</summary>
    public bool LoadKey(string keyFile, uint id)
    {
        try
        {
            SymmetricKey key = KeysFile.Read(keyFile, id);
            (KeyId, KeyType, Password) = (id, key.Algorithm, key.Secret.ToArray());
            UpdateKey();
            return true;
        }
        catch (KeyException e)
        {
            Console.Error.WriteLine($"{tool}: {e.Message}");
            return false;
        }
    }

    /// <summary>Runs <c>host</c>, <c>timeout</c>, <c>keyid</c>, <c>keytype</c> or <c>passwd</c>; null for any other command.</summary>
    public bool? RunCommon(string command, string[] rest)
    {
        switch (command)
        {
            case "host":
                if (rest.Length == 0)
                {
                    Console.WriteLine($"current host is {Host}");
                    return true;
                }

                if (!Connect(rest[0]))
                {
                    return false;
                }

                Console.WriteLine($"current host set to {rest[0]}");
                return true;
            case "timeout":
                if (rest.Length > 0 && int.TryParse(rest[0], NumberStyles.None, CultureInfo.InvariantCulture, out int ms))
                {
                    Timeout = TimeSpan.FromMilliseconds(ms);
                    if (Client is not null)
                    {
                        Client.Timeout = Timeout;
                    }
                }

                Console.WriteLine($"primary timeout {(int)Timeout.TotalMilliseconds} ms");
                return true;
            case "keyid":
                if (rest.Length > 0 && uint.TryParse(rest[0], NumberStyles.None, CultureInfo.InvariantCulture, out uint id))
                {
                    KeyId = id;
                }

                Console.WriteLine(KeyId is null ? "no keyid defined" : $"keyid is {KeyId}");
                break;
            case "keytype":
                if (rest.Length > 0)
                {
                    if (Mac.ParseName(rest[0]) is not MacAlgorithm type)
                    {
                        Console.Error.WriteLine($"***Unknown key type {rest[0]}");
                        return false;
                    }

                    KeyType = type;
                }

                Console.WriteLine($"keytype is {KeyType.ToString().ToUpperInvariant()}");
                break;
            case "passwd":
                if (rest.Length == 0)
                {
                    Console.Error.WriteLine("***passwd needs the password (key) as its argument here");
                    return false;
                }

                if (Meridian.Config.KeyRing.DecodeSecret(rest[0], KeyType) is not byte[] secret)
                {
                    Console.Error.WriteLine("***Invalid key: up to 20 printable characters, or an even number of hex digits");
                    return false;
                }

                Password = secret;
                break;
            default:
                return null;
        }

        UpdateKey();
        return true;
    }

    private void UpdateKey()
    {
        if (Client is not null)
        {
            Client.Key = KeyId is uint id && Password is byte[] secret ? new SymmetricKey(id, KeyType, secret) : null;
        }
    }
}
