using Meridian.Host.Nts;

namespace Meridian.Host.Tests.Nts;

public sealed class NtsKeyExchangeTests
{
    [Fact]
    public void A_failure_is_reported_with_its_kind_named_once()
    {
        var e = new NtsKeClientException(NtsKeClientFailure.NameMismatch, "certificate \"CN=ntp.test\" is not for other.test");
        Assert.Equal("NameMismatch: certificate \"CN=ntp.test\" is not for other.test", NtsKeyExchange.Reason(e));
        Assert.Equal("the NTS-KE response is malformed (short)", NtsKeyExchange.Reason(new InvalidDataException("the NTS-KE response is malformed (short)")));
        Assert.Null(NtsKeyExchange.Reason(new InvalidOperationException("a bug")));
    }
}
