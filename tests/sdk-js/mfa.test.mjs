// iamd through the AWS SDK for JavaScript v3: the SDK's own SigV4 signing, query-protocol
// requests and XML parsing against the real binary. The MFA lifecycle, GetSessionToken with a
// code and what its session may do, and errors as the SDK names them.
//
// Run: cd tests/sdk-js && npm ci && IAMD_BIN=…/target/debug/iamd node --test

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";

import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  CreateVirtualMFADeviceCommand,
  DeactivateMFADeviceCommand,
  DeleteVirtualMFADeviceCommand,
  EnableMFADeviceCommand,
  EntityAlreadyExistsException,
  GetUserCommand,
  IAMServiceException,
  InvalidAuthenticationCodeException,
  ListMFADevicesCommand,
  ListVirtualMFADevicesCommand,
  NoSuchEntityException,
  PutUserPolicyCommand,
} from "@aws-sdk/client-iam";
import { GetCallerIdentityCommand, GetSessionTokenCommand, STSServiceException } from "@aws-sdk/client-sts";

import { Iamd, Totp, currentStep, unique } from "./iamd.mjs";

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

// What a user may do with its own credentials and device (AWS's self-service pattern).
const SELF_SERVICE = JSON.stringify({
  Version: "2012-10-17",
  Statement: [
    { Effect: "Allow", Action: ["iam:GetUser", "iam:ListMFADevices"], Resource: "arn:aws:iam::*:user/${aws:username}" },
  ],
});

let iamd;
let iam;

before(async () => {
  iamd = await Iamd.start();
  iam = iamd.iam();
});

after(async () => {
  await iamd?.stop();
});

/** Runs `call`, expecting it to fail; returns the error. */
async function failure(call) {
  try {
    await call();
  } catch (e) {
    return e;
  }
  assert.fail("the call succeeded");
}

function assertError(error, { name, status, message, fault = "client" }) {
  assert.equal(error.name, name, `${error.name}: ${error.message}`);
  assert.equal(error.message, message);
  assert.equal(error.$metadata.httpStatusCode, status);
  assert.equal(error.$fault, fault);
  assert.match(error.$metadata.requestId ?? "", /^[0-9a-f-]{36}$/);
}

/** A user with an access key, a self-service policy and an enabled device named after it. */
async function userWithDevice(prefix) {
  const userName = unique(prefix);
  await iam.send(new CreateUserCommand({ UserName: userName }));
  await iam.send(new PutUserPolicyCommand({ UserName: userName, PolicyName: "self", PolicyDocument: SELF_SERVICE }));
  const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: userName }));
  const { VirtualMFADevice } = await iam.send(new CreateVirtualMFADeviceCommand({ VirtualMFADeviceName: userName }));
  const totp = new Totp(VirtualMFADevice.Base32StringSeed);
  const step = await currentStep();
  const [code1, code2] = totp.pair(step);
  await iam.send(
    new EnableMFADeviceCommand({
      UserName: userName,
      SerialNumber: VirtualMFADevice.SerialNumber,
      AuthenticationCode1: code1,
      AuthenticationCode2: code2,
    }),
  );
  return {
    userName,
    serial: VirtualMFADevice.SerialNumber,
    totp,
    enabledStep: step,
    keys: { accessKeyId: AccessKey.AccessKeyId, secretAccessKey: AccessKey.SecretAccessKey },
  };
}

describe("virtual MFA lifecycle", () => {
  it("creates, enables, lists, deactivates and deletes a device", async () => {
    const userName = unique("js-life");
    const { User } = await iam.send(new CreateUserCommand({ UserName: userName }));
    assert.equal(User.UserName, userName);
    assert.equal(User.Arn, iamd.userArn(userName));
    assert.match(User.UserId, /^AIDA[A-Z0-9]{17}$/);
    assert.ok(User.CreateDate instanceof Date);

    const deviceName = unique("js-dev");
    const { VirtualMFADevice: device } = await iam.send(
      new CreateVirtualMFADeviceCommand({ VirtualMFADeviceName: deviceName }),
    );
    assert.equal(device.SerialNumber, iamd.mfaArn(deviceName));
    // Blobs: the Base32 seed as text bytes, the QR code as PNG bytes.
    assert.ok(device.Base32StringSeed instanceof Uint8Array);
    assert.match(Buffer.from(device.Base32StringSeed).toString("ascii"), /^[A-Z2-7]{64}$/);
    assert.ok(device.QRCodePNG instanceof Uint8Array);
    assert.ok(device.QRCodePNG.length > 100);
    assert.deepEqual(Buffer.from(device.QRCodePNG.subarray(0, 8)), PNG_MAGIC);
    assert.equal(device.User, undefined);

    const totp = new Totp(device.Base32StringSeed);
    const [code1, code2] = totp.pair(await currentStep());
    const enabled = await iam.send(
      new EnableMFADeviceCommand({
        UserName: userName,
        SerialNumber: device.SerialNumber,
        AuthenticationCode1: code1,
        AuthenticationCode2: code2,
      }),
    );
    assert.equal(enabled.$metadata.httpStatusCode, 200);

    const { MFADevices, IsTruncated } = await iam.send(new ListMFADevicesCommand({ UserName: userName }));
    assert.equal(IsTruncated, false);
    assert.equal(MFADevices.length, 1);
    assert.equal(MFADevices[0].UserName, userName);
    assert.equal(MFADevices[0].SerialNumber, device.SerialNumber);
    assert.ok(MFADevices[0].EnableDate instanceof Date);
    assert.ok(Math.abs(MFADevices[0].EnableDate.getTime() - Date.now()) < 120_000, String(MFADevices[0].EnableDate));

    const assigned = await iam.send(new ListVirtualMFADevicesCommand({ AssignmentStatus: "Assigned" }));
    const entry = assigned.VirtualMFADevices.find((d) => d.SerialNumber === device.SerialNumber);
    assert.ok(entry, "the device is listed as assigned");
    assert.equal(entry.User.UserName, userName);
    assert.equal(entry.User.Arn, User.Arn);
    assert.equal(entry.Base32StringSeed, undefined, "the seed is returned only at creation");

    await iam.send(new DeactivateMFADeviceCommand({ UserName: userName, SerialNumber: device.SerialNumber }));
    assert.deepEqual((await iam.send(new ListMFADevicesCommand({ UserName: userName }))).MFADevices, []);
    const unassigned = await iam.send(new ListVirtualMFADevicesCommand({ AssignmentStatus: "Unassigned" }));
    assert.ok(unassigned.VirtualMFADevices.some((d) => d.SerialNumber === device.SerialNumber));

    await iam.send(new DeleteVirtualMFADeviceCommand({ SerialNumber: device.SerialNumber }));
    const any = await iam.send(new ListVirtualMFADevicesCommand({}));
    assert.ok(!any.VirtualMFADevices.some((d) => d.SerialNumber === device.SerialNumber));
    const error = await failure(() => iam.send(new DeleteVirtualMFADeviceCommand({ SerialNumber: device.SerialNumber })));
    assert.ok(error instanceof NoSuchEntityException);
    assertError(error, {
      name: "NoSuchEntityException",
      status: 404,
      message: `MFA Device with serial number ${device.SerialNumber} does not exist.`,
    });
  });
});

describe("GetSessionToken with an MFA code", () => {
  it("opens a session that may call IAM, and refuses the same code twice", async () => {
    const user = await userWithDevice("js-sts");
    const sts = iamd.sts(user.keys);
    // The first code STS accepts: the step after the last one the enable pair used.
    const code = user.totp.at(user.enabledStep + 1);
    const { Credentials } = await sts.send(
      new GetSessionTokenCommand({ SerialNumber: user.serial, TokenCode: code, DurationSeconds: 900 }),
    );
    assert.match(Credentials.AccessKeyId, /^ASIA[A-Z0-9]{16}$/);
    assert.equal(Credentials.SecretAccessKey.length, 40);
    assert.ok(Credentials.SessionToken.length > 0);
    assert.ok(Credentials.Expiration instanceof Date);
    assert.ok(Math.abs(Credentials.Expiration.getTime() - (Date.now() + 900_000)) < 120_000);

    const session = {
      accessKeyId: Credentials.AccessKeyId,
      secretAccessKey: Credentials.SecretAccessKey,
      sessionToken: Credentials.SessionToken,
    };
    const identity = await iamd.sts(session).send(new GetCallerIdentityCommand({}));
    assert.equal(identity.Arn, iamd.userArn(user.userName));
    assert.equal(identity.Account, iamd.accountId);
    assert.match(identity.UserId, /^AIDA/);

    // An MFA session may call IAM, as the user's policies allow.
    const sessionIam = iamd.iam(session);
    const { User } = await sessionIam.send(new GetUserCommand({}));
    assert.equal(User.UserName, user.userName);
    const { MFADevices } = await sessionIam.send(new ListMFADevicesCommand({}));
    assert.deepEqual(
      MFADevices.map((d) => d.SerialNumber),
      [user.serial],
    );

    // A code is accepted once.
    const reused = await failure(() => sts.send(new GetSessionTokenCommand({ SerialNumber: user.serial, TokenCode: code })));
    assert.ok(reused instanceof STSServiceException);
    assertError(reused, {
      name: "AccessDenied",
      status: 403,
      message: "MultiFactorAuthentication failed with invalid MFA one time pass code.",
    });

    // Session credentials cannot open another session.
    const nested = await failure(() => iamd.sts(session).send(new GetSessionTokenCommand({})));
    assertError(nested, { name: "AccessDenied", status: 403, message: "Cannot call GetSessionToken with session credentials" });
  });

  it("refuses a serial that is not the caller's", async () => {
    const user = await userWithDevice("js-serial");
    const error = await failure(() =>
      iamd.sts(user.keys).send(
        new GetSessionTokenCommand({ SerialNumber: iamd.mfaArn(unique("nobody")), TokenCode: user.totp.at(user.enabledStep + 1) }),
      ),
    );
    assertError(error, {
      name: "AccessDenied",
      status: 403,
      message:
        "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial number is valid and associated with this user.",
    });
  });

  it("opens a session without MFA that may not call IAM", async () => {
    const user = await userWithDevice("js-nomfa");
    const { Credentials } = await iamd.sts(user.keys).send(new GetSessionTokenCommand({ DurationSeconds: 900 }));
    const session = {
      accessKeyId: Credentials.AccessKeyId,
      secretAccessKey: Credentials.SecretAccessKey,
      sessionToken: Credentials.SessionToken,
    };
    // STS answers it…
    const identity = await iamd.sts(session).send(new GetCallerIdentityCommand({}));
    assert.equal(identity.Arn, iamd.userArn(user.userName));
    // …IAM does not, in AWS's words (no final period in IAM's text).
    const error = await failure(() => iamd.iam(session).send(new GetUserCommand({})));
    assert.ok(error instanceof IAMServiceException);
    assertError(error, {
      name: "InvalidClientTokenId",
      status: 403,
      message: "The security token included in the request is invalid",
    });
  });
});

describe("errors by name", () => {
  it("NoSuchEntityException for an unknown user", async () => {
    const name = unique("js-missing");
    const error = await failure(() => iam.send(new GetUserCommand({ UserName: name })));
    assert.ok(error instanceof NoSuchEntityException);
    assert.ok(error instanceof IAMServiceException);
    assertError(error, { name: "NoSuchEntityException", status: 404, message: `The user with name ${name} cannot be found.` });
  });

  it("EntityAlreadyExistsException for a second user of the same name, and a device in use", async () => {
    const name = unique("js-twice");
    await iam.send(new CreateUserCommand({ UserName: name }));
    const error = await failure(() => iam.send(new CreateUserCommand({ UserName: name })));
    assert.ok(error instanceof EntityAlreadyExistsException);
    assertError(error, { name: "EntityAlreadyExistsException", status: 409, message: `User with name ${name} already exists.` });

    const user = await userWithDevice("js-inuse");
    const step = await currentStep();
    const [code1, code2] = user.totp.pair(step + 2);
    const inUse = await failure(() =>
      iam.send(
        new EnableMFADeviceCommand({ UserName: name, SerialNumber: user.serial, AuthenticationCode1: code1, AuthenticationCode2: code2 }),
      ),
    );
    assert.ok(inUse instanceof EntityAlreadyExistsException);
    assertError(inUse, { name: "EntityAlreadyExistsException", status: 409, message: "MFA Device is already in use." });
  });

  it("InvalidAuthenticationCodeException for wrong codes", async () => {
    const userName = unique("js-badcode");
    await iam.send(new CreateUserCommand({ UserName: userName }));
    const { VirtualMFADevice: device } = await iam.send(
      new CreateVirtualMFADeviceCommand({ VirtualMFADeviceName: userName }),
    );
    const totp = new Totp(device.Base32StringSeed);
    const step = await currentStep();
    const attempts = [
      [totp.invalidCode(), totp.at(step)], // one wrong code
      [totp.at(step), totp.at(step)], // the same code twice
      [totp.at(step), totp.at(step - 1)], // consecutive codes in the wrong order
    ];
    for (const [code1, code2] of attempts) {
      const error = await failure(() =>
        iam.send(
          new EnableMFADeviceCommand({ UserName: userName, SerialNumber: device.SerialNumber, AuthenticationCode1: code1, AuthenticationCode2: code2 }),
        ),
      );
      assert.ok(error instanceof InvalidAuthenticationCodeException, `${code1} ${code2}: ${error}`);
      assertError(error, {
        name: "InvalidAuthenticationCodeException",
        status: 403,
        message: "Authentication code for device is not valid.",
      });
    }
    assert.deepEqual((await iam.send(new ListMFADevicesCommand({ UserName: userName }))).MFADevices, []);
  });

  it("InvalidClientTokenId for an unknown access key, worded by each service", async () => {
    const unknown = { accessKeyId: "AKIAUNKNOWNKEY000001", secretAccessKey: "x".repeat(40) };
    const fromIam = await failure(() => iamd.iam(unknown).send(new GetUserCommand({})));
    assertError(fromIam, { name: "InvalidClientTokenId", status: 403, message: "The security token included in the request is invalid" });
    const fromSts = await failure(() => iamd.sts(unknown).send(new GetCallerIdentityCommand({})));
    assertError(fromSts, {
      name: "InvalidClientTokenId",
      status: 403,
      message: "The security token included in the request is invalid.",
    });
  });
});
